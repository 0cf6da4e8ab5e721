// Findings: what looks wrong, as the server's rules word it. A badge on each affected node
// (the graph keeps them and shows them on hover), the Findings tab listing them in the order
// the server sorted them (most severe first; a click focuses the node), each node's findings
// at the top of its Details, and a queue's depth chart (with axes) at the bottom. Findings come
// from GET /api/diagnostics on each snapshot and then from `findings` socket frames, each a diff
// (findings-logic.js). Severity words and rule titles come from the server's vocabulary.
// Broker strings go in as text only.
import { depthChart } from '../chart.js';
import { applyFindingsFrame } from '../findings-logic.js';
import * as human from '../humane.js';
import { ruleTitle, severityLabel, severityRank } from '../vocabulary.js';

const HISTORY_FRESH_MS = 5000; // re-ask for a queue's series at most this often
const CHART_HEIGHT = 160;

const severityClass = (severity) => `sev-${severityRank(severity) < 99 ? severity : 'info'}`;

function nodeLabel(app, id) {
  const ele = app.graph.element(id);
  if (ele) return app.format.displayName(ele.data());
  const name = String(id).slice(String(id).indexOf(':') + 1);
  return name === '' && String(id).startsWith('exchange:') ? app.format.DEFAULT_EXCHANGE_LABEL : name;
}

/** "critical" pill, rule title, and when it started: the head of one finding. */
function findingHead(el, f) {
  return [
    el('span', { class: `pill ${severityClass(f.severity)}`, text: severityLabel(f.severity) }), ' ',
    el('strong', { class: 'rule-title', text: ruleTitle(f.rule) }),
  ];
}

class FindingsPanel {
  constructor(app) {
    this.app = app;
    this.findings = [];
    this.generation = 0;
    this.pending = null; // frames that arrive while the list is fetched, applied on top of it
    const { el } = app.format;
    this.root = app.tabs.add('findings', 'Findings');
    this.summary = el('p', { class: 'muted', text: 'No findings yet.' });
    this.list = el('ul', { class: 'list findings-list' });
    this.root.append(this.summary, this.list);
  }

  /** Fetch the current list; frames that arrive meanwhile are applied on top of it (each
   * sets the whole state of the findings it names, so applying one twice changes nothing). */
  async load(vhost) {
    const generation = ++this.generation;
    this.pending = [];
    let body = null;
    try {
      const response = await fetch(`/api/diagnostics?vhost=${encodeURIComponent(vhost)}`, { headers: { Accept: 'application/json' } });
      if (response.ok) body = await response.json();
    } catch (err) {
      console.warn('findings: could not load', err);
    }
    if (generation !== this.generation) return;
    const frames = this.pending ?? [];
    this.pending = null;
    if (body && vhost === this.app.vhost) this.set(frames.reduce(applyFindingsFrame, body.findings ?? []));
  }

  /** A `findings` frame: a diff (live) or a whole list (a recording replayed). */
  receive(frame) {
    this.pending?.push(frame);
    this.set(applyFindingsFrame(this.findings, frame));
  }

  /** Another vhost: nothing until its list is read. */
  reset() {
    this.generation += 1;
    this.pending = null;
    this.set([]);
  }

  /** The server sorts findings (most severe first, then oldest): kept in its order. */
  set(findings) {
    this.findings = [...findings];
    this.render();
    this.applyBadges();
    this.app.details.refresh();
  }

  of(nodeId) { return this.findings.filter((f) => f.node === nodeId); }

  /** Each node's findings to the graph: a badge of the worst, and the list on hover. */
  applyBadges() {
    const byNode = new Map();
    for (const f of this.findings) {
      if (!byNode.has(f.node)) byNode.set(f.node, []);
      byNode.get(f.node).push(f);
    }
    // The graph keeps them, badges nodes that arrive later, and shows them on hover.
    this.app.graph.clearFindings();
    for (const [node, list] of byNode) this.app.graph.setFindings(node, list);
  }

  render() {
    const { el, clear, nameNode, visibleText } = this.app.format;
    clear(this.list);
    const n = this.findings.length;
    const worst = n ? this.findings.reduce((a, f) => (severityRank(f.severity) < severityRank(a) ? f.severity : a), this.findings[0].severity) : '';
    this.app.tabs.setCount('findings', n, { title: n ? `${human.counted(n, 'finding')}: things that look wrong on this vhost` : '',
      tone: worst === 'critical' ? 'bad' : worst === 'warning' ? 'warn' : '' });
    this.summary.textContent = n ? '' : 'Nothing looks stuck.';
    this.summary.hidden = n > 0;
    for (const f of this.findings) {
      const target = el('button', { type: 'button', class: 'link finding-node', title: 'Show it on the graph', onclick: () => this.focus(f.node) },
        nameNode(nodeLabel(this.app, f.node)));
      this.list.append(el('li', { class: 'finding', dataset: { node: f.node, rule: f.rule, severity: f.severity } },
        el('div', { class: 'finding-head' }, ...findingHead(el, f)),
        el('div', { class: 'finding-where' }, target, el('span', { class: 'muted', text: ` · since ${human.ago(f.since)}` })),
        el('div', { class: 'finding-message', text: visibleText(f.message) })));
    }
  }

  focus(id) {
    const graph = this.app.graph;
    if (!graph.focus(id)) {
      this.app.status.showBanner(`${this.app.format.visibleName(nodeLabel(this.app, id))} is not on the graph (it may be hidden or missing).`, 'warn');
      return;
    }
    graph.highlight([id], { className: 'highlight', dimOthers: false });
    this.app.bus.emit('select', graph.element(id));
  }

  /** The top of a node's Details: its findings, most severe first (as the server sorted them). */
  section(ele) {
    if (ele.isEdge()) return null;
    const findings = this.of(ele.id());
    if (!findings.length) return null;
    const { el, visibleText } = this.app.format;
    return el('section', { class: 'details-section details-findings', 'aria-label': 'Findings' },
      el('h3', { text: findings.length === 1 ? 'Finding' : `Findings (${findings.length})` }),
      el('ul', { class: 'list' }, ...findings.map((f) => el('li', { class: 'details-finding', dataset: { rule: f.rule, severity: f.severity } },
        el('div', { class: 'finding-head' }, ...findingHead(el, f)),
        el('div', { class: 'finding-message', text: visibleText(f.message) }),
        el('div', { class: 'muted finding-since', text: `since ${human.clockTime(f.since)} (${human.ago(f.since)})` })))));
  }
}

/** A queue's depth over the retained window, as a chart with axes under its details. */
class DepthCharts {
  constructor(app) {
    this.app = app;
    this.cache = new Map(); // vhost\nqueue -> {at, body}
    this.observer = new ResizeObserver((entries) => entries.forEach((entry) => this.draw(entry.target)));
    this.current = null;
  }

  section(ele) {
    const d = ele.data();
    if (ele.isEdge() || d.kind !== 'queue') return null;
    const { el } = this.app.format;
    const box = el('section', { class: 'details-section depth-chart', dataset: { queue: d.name } },
      el('h3', { text: 'Depth over time' }),
      el('div', { class: 'chart-legend' },
        el('span', { class: 'key key-ready' }), 'ready', el('span', { class: 'key key-unacked' }), 'unacknowledged'),
      el('div', { class: 'chart-area' }),
      el('p', { class: 'muted spark-caption chart-caption', text: 'Loading the history…' }));
    if (this.current) this.observer.unobserve(this.current);
    this.current = box;
    this.observer.observe(box);
    const vhost = this.app.vhost;
    const key = `${vhost}\n${d.name}`;
    box.key = key;
    const cached = this.cache.get(key);
    if (!cached || Date.now() - cached.at > HISTORY_FRESH_MS) this.fetch(vhost, d.name, key, box);
    return box;
  }

  async fetch(vhost, queue, key, box) {
    this.cache.set(key, { at: Date.now(), body: this.cache.get(key)?.body ?? null });
    try {
      const url = `/api/queue-history?vhost=${encodeURIComponent(vhost)}&queue=${encodeURIComponent(queue)}`;
      const response = await fetch(url, { headers: { Accept: 'application/json' } });
      const body = response.ok ? await response.json() : { points: [] };
      this.cache.set(key, { at: Date.now(), body });
      if (box.isConnected) this.draw(box);
      const current = this.current?.key === key ? this.current : null;
      if (current && current !== box && current.isConnected) this.draw(current);
    } catch (err) {
      console.warn('depth chart: could not load', err);
    }
  }

  draw(box) {
    const body = this.cache.get(box.key)?.body;
    const area = box.querySelector('.chart-area');
    const caption = box.querySelector('.chart-caption');
    if (!area || body === undefined || body === null) return;
    if (!Array.isArray(body.points) || !body.points.length) {
      area.replaceChildren();
      caption.textContent = 'No depth history yet: the broker has not reported this queue\'s depth.';
      return;
    }
    const width = Math.floor(area.clientWidth);
    if (width < 100) return; // not laid out yet: the observer draws it once it is
    area.replaceChildren(depthChart(body.points, { windowSeconds: body.window, width, height: CHART_HEIGHT }));
    caption.textContent = captionOf(body);
  }
}

function captionOf(body) {
  const last = body.points[body.points.length - 1];
  const slope = Number(body.slope) || 0;
  const trend = Math.abs(slope) < 0.01 ? 'steady' : `${slope > 0 ? 'growing' : 'shrinking'} ${human.perSecond(Math.abs(slope))}`;
  let drain = 'at this rate it never drains';
  if (body.time_to_drain === 0) drain = 'empty';
  else if (typeof body.time_to_drain === 'number') drain = `drains in about ${human.duration(Math.max(60, body.time_to_drain))}`;
  const unacked = last[2] === undefined ? '' : ` · ${human.number(last[2])} unacknowledged`;
  return `now ${human.number(last[1])} ready${unacked} · ${trend} · ${drain}`;
}

export function install(app) {
  const panel = new FindingsPanel(app);
  const charts = new DepthCharts(app);
  app.details.addSection((ele) => panel.section(ele), { top: true });
  app.details.addSection((ele) => charts.section(ele));
  app.findings = panel;
  app.on('snapshot', (msg) => { panel.applyBadges(); panel.load(msg.vhost); });
  app.on('vhost', () => panel.reset());
  app.socket.on('findings', (msg) => { if (msg && msg.vhost === app.vhost && app.past === null) panel.receive(msg); });
  if (app.vhost) panel.load(app.vhost);
}
