// Stuck-queue findings: severity badges on the affected nodes, a Findings tab sorted by
// severity (a click focuses the node), and a 15-minute depth sparkline for the selected
// queue in the details panel. Findings come from GET /api/diagnostics on each snapshot and
// then from `findings` socket frames. Broker strings go in as text only (format.el, SVG
// attributes set to numbers), never as HTML.

const RANK = { critical: 0, warning: 1, info: 2 };
const SVG = 'http://www.w3.org/2000/svg';
const HISTORY_FRESH_MS = 5000; // re-ask for a queue's series at most this often
const SPARK_W = 320;
const SPARK_H = 56;

function bySeverity(a, b) {
  return (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) || a.since - b.since || String(a.node).localeCompare(String(b.node));
}

function nodeLabel(app, id) {
  const ele = app.graph.element(id);
  if (ele) return app.format.displayName(ele.data());
  const name = String(id).slice(String(id).indexOf(':') + 1);
  return name === '' && String(id).startsWith('exchange:') ? app.format.DEFAULT_EXCHANGE_LABEL : name;
}

class FindingsPanel {
  constructor(app) {
    this.app = app;
    this.findings = [];
    this.generation = 0;
    const { el } = app.format;
    this.root = app.tabs.add('findings', 'Findings');
    this.summary = el('p', { class: 'muted', text: 'No findings yet.' });
    this.list = el('ul', { class: 'list findings-list' });
    this.root.append(this.summary, this.list);
  }

  /** Fetch the current list; a frame that arrives meanwhile is newer and wins. */
  async load(vhost) {
    const generation = ++this.generation;
    let body;
    try {
      const response = await fetch(`/api/diagnostics?vhost=${encodeURIComponent(vhost)}`, { headers: { Accept: 'application/json' } });
      if (!response.ok) return;
      body = await response.json();
    } catch (err) {
      console.warn('findings: could not load', err);
      return;
    }
    if (vhost === this.app.vhost && generation === this.generation) this.set(body.findings ?? []);
  }

  /** A `findings` frame: newer than any fetch still in flight. */
  receive(findings) {
    this.generation += 1;
    this.set(findings);
  }

  set(findings) {
    this.findings = [...findings].sort(bySeverity);
    this.render();
    this.applyBadges();
  }

  /** One badge per node, the most severe of its findings. */
  applyBadges() {
    const worst = new Map();
    for (const f of this.findings) {
      const seen = worst.get(f.node);
      if (seen === undefined || (RANK[f.severity] ?? 9) < (RANK[seen] ?? 9)) worst.set(f.node, f.severity);
    }
    this.app.graph.clearBadges();
    for (const [node, severity] of worst) this.app.graph.setBadge(node, severity);
  }

  render() {
    const { el, clear, ago } = this.app.format;
    clear(this.list);
    this.app.tabs.setCount('findings', this.findings.length);
    this.summary.textContent = this.findings.length ? '' : 'Nothing looks stuck.';
    this.summary.hidden = this.findings.length > 0;
    for (const f of this.findings) {
      const target = el('button', { type: 'button', class: 'link finding-node', text: nodeLabel(this.app, f.node), onclick: () => this.focus(f.node) });
      this.list.append(el('li', { class: 'finding', dataset: { node: f.node, rule: f.rule, severity: f.severity } },
        el('div', {},
          el('span', { class: `pill sev-${RANK[f.severity] === undefined ? 'info' : f.severity}`, text: f.severity }), ' ',
          target, ' ',
          el('span', { class: 'muted', text: `${f.rule} · since ${ago(f.since)}` })),
        el('div', { text: f.message })));
    }
  }

  focus(id) {
    const graph = this.app.graph;
    if (!graph.focus(id)) {
      this.app.status.showBanner(`${nodeLabel(this.app, id)} is not on the graph (it may be hidden or missing).`, 'warn');
      return;
    }
    graph.highlight([id], { className: 'highlight', dimOthers: false });
    this.app.bus.emit('select', graph.element(id));
  }
}

/** A queue's depth over the last 15 minutes, drawn as inline SVG under its details. */
class Sparklines {
  constructor(app) {
    this.app = app;
    this.cache = new Map(); // vhost\nqueue -> {at, body}
  }

  section(ele) {
    const d = ele.data();
    if (ele.isEdge() || d.kind !== 'queue') return null;
    const { el } = this.app.format;
    const box = el('div', { class: 'sparkline', dataset: { queue: d.name } },
      el('div', { class: 'kind', text: 'ready messages, last 15 min' }));
    const vhost = this.app.vhost;
    const key = `${vhost}\n${d.name}`;
    const cached = this.cache.get(key);
    if (cached) this.draw(box, cached.body);
    if (!cached || Date.now() - cached.at > HISTORY_FRESH_MS) this.fetch(vhost, d.name, key, box);
    return box;
  }

  async fetch(vhost, queue, key, box) {
    this.cache.set(key, { at: Date.now(), body: this.cache.get(key)?.body ?? null });
    try {
      const url = `/api/queue-history?vhost=${encodeURIComponent(vhost)}&queue=${encodeURIComponent(queue)}`;
      const response = await fetch(url, { headers: { Accept: 'application/json' } });
      if (!response.ok) return;
      const body = await response.json();
      this.cache.set(key, { at: Date.now(), body });
      if (box.isConnected) this.draw(box, body);
    } catch (err) {
      console.warn('sparkline: could not load', err);
    }
  }

  draw(box, body) {
    if (!body || !Array.isArray(body.points) || !body.points.length) return;
    const { el, count } = this.app.format;
    box.querySelectorAll('svg, .spark-caption').forEach((n) => n.remove());
    box.append(sparkline(body.points, body.window), el('div', { class: 'muted spark-caption', text: caption(body, count) }));
  }
}

function caption(body, count) {
  const last = body.points[body.points.length - 1];
  const slope = Number(body.slope) || 0;
  const trend = `${slope >= 0 ? '+' : ''}${slope.toFixed(Math.abs(slope) < 1 ? 2 : 1)}/s`;
  let drain = 'never drains at this rate';
  if (body.time_to_drain === 0) drain = 'empty';
  else if (typeof body.time_to_drain === 'number') drain = `drains in ~${Math.max(1, Math.round(body.time_to_drain / 60))} min`;
  return `now ${count(last[1])} ready · ${trend} · ${drain}`;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function sparkline(points, windowSeconds) {
  const end = points[points.length - 1][0];
  const start = end - (Number(windowSeconds) || 900);
  const max = Math.max(1, ...points.map((p) => p[1]));
  const x = (t) => ((Math.max(t, start) - start) / (end - start || 1)) * (SPARK_W - 4) + 2;
  const y = (v) => SPARK_H - 3 - (v / max) * (SPARK_H - 8);
  // A step line: the broker's depth holds between samples.
  const coords = [];
  points.forEach((p, i) => {
    if (i > 0) coords.push(`${x(p[0]).toFixed(1)},${y(points[i - 1][1]).toFixed(1)}`);
    coords.push(`${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
  });
  const svg = svgEl('svg', { viewBox: `0 0 ${SPARK_W} ${SPARK_H}`, width: '100%', height: SPARK_H, role: 'img', 'aria-label': 'queue depth' });
  svg.append(svgEl('rect', { x: 0, y: 0, width: SPARK_W, height: SPARK_H, fill: 'rgba(148,163,184,0.08)', rx: 4 }));
  svg.append(svgEl('polyline', { points: coords.join(' '), fill: 'none', stroke: '#7dd3fc', 'stroke-width': 1.6 }));
  return svg;
}

export function install(app) {
  const panel = new FindingsPanel(app);
  const sparks = new Sparklines(app);
  app.details.addSection((ele) => sparks.section(ele));
  app.findings = panel;
  app.on('snapshot', (msg) => { panel.applyBadges(); panel.load(msg.vhost); });
  app.on('patch', () => panel.applyBadges());
  app.on('vhost', () => panel.receive([]));
  app.socket.on('findings', (msg) => { if (msg && msg.vhost === app.vhost) panel.receive(msg.findings ?? []); });
  if (app.vhost) panel.load(app.vhost);
}
