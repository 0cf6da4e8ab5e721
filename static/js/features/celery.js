// Celery on the graph: worker nodes (online/offline), live task flow on the edges
// exchange → queue → worker, and a Tasks panel (recent tasks with filters, per task name
// figures, per queue backlog, event-stream gaps). Activity arrives as throttled `activity`
// frames; slow edges animate individual tasks, busy ones show an aggregate rate.
// Every broker- or worker-supplied string reaches the page as text only (format.el).

const ACTIVE_MS = 2500; // an edge stays lit this long after its last task
const FLASH_MS = 2000; // a worker glows red/amber this long after a failure/retry
const ANIMATE_BELOW = 4; // tasks a second on an edge: below this, each task is drawn moving
const MAX_DOTS = 40;
const DOT_MS = 700;
const REFRESH_MS = 2000;
const TASK_LIMIT = 200;
const STATES = ['sent', 'received', 'started', 'succeeded', 'failed', 'retried', 'revoked', 'rejected'];
const STATE_CLASS = { failed: 'sev-critical', rejected: 'sev-critical', retried: 'sev-warning', revoked: 'sev-warning' };

function workerLabel(d, f) {
  const status = d.online ? 'online' : 'offline';
  const pool = d.pool ? ` · pool ${d.pool}` : '';
  const load = Array.isArray(d.loadavg) && d.loadavg.length ? ` · load ${Number(d.loadavg[0]).toFixed(2)}` : '';
  return `${f.shorten(d.name, 30)}\n${status}${pool} · ${d.active ?? 0} active\n` +
    `${f.count(d.processed ?? 0)} done · ${f.count(d.failed ?? 0)} failed${load}`;
}

function installStyles(app) {
  const f = app.format;
  app.graph.cy.style()
    .selector('node[kind = "worker"]').style({
      'shape': 'round-rectangle', 'width': 190, 'height': 58, 'background-color': '#14532d', 'border-width': 2,
      'border-color': '#22c55e', 'label': (ele) => workerLabel(ele.data(), f), 'color': '#dcfce7',
      'text-valign': 'center', 'text-halign': 'center', 'text-wrap': 'wrap', 'font-size': 10, 'text-max-width': 180,
    })
    .selector('node[kind = "worker"][!online]').style({
      'background-color': '#1f2937', 'border-color': '#64748b', 'border-style': 'dashed', 'color': '#94a3b8',
    })
    .selector('edge[?worker]').style({ 'line-color': '#15803d', 'target-arrow-color': '#15803d', 'width': 1.6 })
    .selector('edge.celery-active').style({
      'label': (ele) => f.rate(ele.data('celery_rate') ?? 0), 'line-color': '#38bdf8', 'target-arrow-color': '#38bdf8',
      'width': (ele) => 1.5 + Math.min(7, 2.2 * Math.log10(1 + (ele.data('celery_rate') ?? 0))), 'color': '#e0f2fe',
    })
    .selector('edge.celery-failing').style({ 'line-color': '#ef4444', 'target-arrow-color': '#ef4444' })
    .selector('node.celery-failed').style({ 'underlay-color': '#ef4444', 'underlay-opacity': 0.55, 'underlay-padding': 9 })
    .selector('node.celery-retried').style({ 'underlay-color': '#f59e0b', 'underlay-opacity': 0.5, 'underlay-padding': 8 })
    .selector('node.celery-dot').style({
      'width': 11, 'height': 11, 'shape': 'ellipse', 'background-color': '#38bdf8', 'label': '', 'z-index': 30,
      'border-width': 0, 'events': 'no',
    })
    .selector('node.celery-dot[state = "failed"]').style({ 'background-color': '#ef4444' })
    .selector('node.celery-dot[state = "retried"]').style({ 'background-color': '#f59e0b' })
    .update();
}

/** Lights edges and workers from activity frames and animates sampled tasks when slow. */
class Activity {
  constructor(app) {
    this.app = app;
    this.graph = app.graph;
    this.lit = new Map(); // element id -> time it was last active
    this.flashes = new Map(); // node id -> {cls, until}
    this.dots = 0;
    this.seq = 0;
    this.lastFrame = null;
    setInterval(() => this.sweep(), 500);
  }

  onFrame(frame) {
    if (!frame || frame.vhost !== this.app.vhost) return;
    this.lastFrame = frame;
    const now = Date.now();
    for (const [id, fig] of Object.entries(frame.edges ?? {})) {
      const edge = this.graph.element(id);
      if (!edge) continue;
      edge.data('celery_rate', fig.rate);
      edge.addClass('celery-active');
      edge.toggleClass('celery-failing', Boolean(fig.states?.failed));
      this.lit.set(id, now);
    }
    for (const [id, fig] of Object.entries(frame.nodes ?? {})) {
      if (fig.states?.failed) this.flash(id, 'celery-failed', now);
      else if (fig.states?.retried) this.flash(id, 'celery-retried', now);
    }
    for (const sample of frame.samples ?? []) {
      for (const id of sample.path ?? []) {
        const rate = frame.edges?.[id]?.rate ?? 0;
        if (rate < ANIMATE_BELOW) this.animate(id, sample.state);
      }
    }
  }

  flash(id, cls, now) {
    const node = this.graph.element(id);
    if (!node) return;
    node.addClass(cls);
    this.flashes.set(id, { cls, until: now + FLASH_MS });
  }

  animate(edgeId, state) {
    const edge = this.graph.element(edgeId);
    if (!edge || edge.hasClass('hidden') || this.dots >= MAX_DOTS) return;
    const from = edge.source().position();
    const to = edge.target().position();
    this.seq += 1;
    this.dots += 1;
    const dot = this.graph.cy.add({
      group: 'nodes', classes: 'celery-dot', position: { x: from.x, y: from.y },
      data: { id: `celery-dot:${this.seq}`, kind: 'celery-dot', state, placed: true },
    });
    dot.ungrabify();
    dot.unselectify();
    dot.animate({ position: { x: to.x, y: to.y } }, {
      duration: DOT_MS, complete: () => { dot.remove(); this.dots -= 1; },
    });
  }

  sweep() {
    const now = Date.now();
    for (const [id, at] of this.lit) {
      if (now - at < ACTIVE_MS) continue;
      const edge = this.graph.element(id);
      if (edge) { edge.removeClass('celery-active celery-failing'); edge.data('celery_rate', 0); }
      this.lit.delete(id);
    }
    for (const [id, flash] of this.flashes) {
      if (now < flash.until) continue;
      this.graph.element(id)?.removeClass(flash.cls);
      this.flashes.delete(id);
    }
  }
}

/** The Tasks tab: recent tasks with filters, per-name figures, queues, workers, gaps. */
class TaskPanel {
  constructor(app) {
    this.app = app;
    this.f = app.format;
    this.root = app.tabs.add('tasks', 'Tasks');
    this.root.classList.add('celery-panel');
    this.build();
    this.refresh();
    setInterval(() => { if (!this.root.hidden) this.refresh(); }, REFRESH_MS);
  }

  build() {
    const { el } = this.f;
    const onChange = () => this.refresh();
    this.name = el('input', { id: 'celery-filter-name', type: 'search', placeholder: 'task name', 'aria-label': 'Task name', oninput: onChange });
    this.state = el('select', { id: 'celery-filter-state', 'aria-label': 'State', onchange: onChange },
      el('option', { value: '', text: 'any state' }), ...STATES.map((s) => el('option', { value: s, text: s })));
    this.worker = el('input', { id: 'celery-filter-worker', type: 'search', placeholder: 'worker', 'aria-label': 'Worker', oninput: onChange });
    this.queue = el('input', { id: 'celery-filter-queue', type: 'search', placeholder: 'queue', 'aria-label': 'Queue', oninput: onChange });
    this.gaps = el('p', { id: 'celery-gaps', class: 'muted' });
    this.workers = el('div', { id: 'celery-workers' });
    this.tasks = el('div', { id: 'celery-tasks' });
    this.names = el('div', { id: 'celery-names' });
    this.queues = el('div', { id: 'celery-queues' });
    this.root.append(
      this.gaps,
      el('h3', { text: 'Workers' }), this.workers,
      el('h3', { text: 'Recent tasks' }),
      el('div', { class: 'form-row' }, this.name, this.state),
      el('div', { class: 'form-row' }, this.worker, this.queue),
      this.tasks,
      el('h3', { text: 'By task name' }), this.names,
      el('h3', { text: 'Queues: sent, not yet received' }), this.queues,
    );
  }

  async fetchJson(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  async refresh() {
    const params = new URLSearchParams({ limit: String(TASK_LIMIT) });
    for (const [key, input] of [['name', this.name], ['state', this.state], ['worker', this.worker], ['queue', this.queue]]) {
      if (input.value.trim()) params.set(key, input.value.trim());
    }
    try {
      const [tasks, workers, summary] = await Promise.all([
        this.fetchJson(`/api/tasks?${params}`), this.fetchJson('/api/workers'), this.fetchJson('/api/celery'),
      ]);
      this.renderGaps(summary);
      this.renderWorkers(workers);
      this.renderTasks(tasks);
      this.renderNames(summary.task_names ?? {});
      this.renderQueues(summary.queues ?? {});
      this.app.tabs.setCount('tasks', tasks.filter((t) => t.state === 'failed').length);
    } catch (err) {
      this.f.clear(this.gaps).append(this.f.el('span', { class: 'sev-warning', text: `Celery data unavailable: ${err.message}` }));
    }
  }

  renderGaps(summary) {
    const { el, clear, plural } = this.f;
    clear(this.gaps);
    if (!summary.enabled) {
      this.gaps.append('Celery events are off: start the service with --broker-url amqp://… (workers need -E).');
      return;
    }
    const g = summary.gaps ?? {};
    const lost = (g.expired ?? 0) + (g.over_limit ?? 0);
    const parts = [];
    if (lost) parts.push(`${plural(lost, 'event')} lost on the broker (${g.expired ?? 0} expired, ${g.over_limit ?? 0} over the queue limit)`);
    if (g.reconnects) parts.push(`${plural(g.reconnects, 'reconnect')}${g.queue_lost ? `, events during ${plural(g.queue_lost, 'outage')} lost` : ''}`);
    const state = summary.source?.state ?? 'starting';
    this.gaps.append(el('span', { text: `Event stream: ${state}. ` }));
    if (parts.length) this.gaps.append(el('span', { class: 'sev-warning', id: 'celery-gap-text', text: `Gaps: ${parts.join('; ')}.` }));
    else this.gaps.append(el('span', { text: 'No gaps.' }));
  }

  table(headers, rows) {
    const { el } = this.f;
    if (!rows.length) return el('p', { class: 'empty', text: 'Nothing yet.' });
    return el('table', { class: 'kv' },
      el('tr', {}, ...headers.map((h) => el('th', { text: h }))),
      ...rows);
  }

  renderWorkers(workers) {
    const { el, clear, count } = this.f;
    const rows = workers.map((w) => el('tr', { dataset: { worker: w.hostname }, onclick: () => this.app.graph.focus(`worker:${w.hostname}`) },
      el('td', { text: w.hostname }),
      el('td', {}, el('span', { class: `pill ${w.online ? '' : 'muted'}`, text: w.online ? 'online' : 'offline' })),
      el('td', { text: `${w.active ?? 0} active · ${count(w.processed ?? 0)} done` }),
      el('td', { class: w.failed ? 'sev-critical' : '', text: `${count(w.failed ?? 0)} failed · ${count(w.retried ?? 0)} retried` }),
      el('td', { text: (w.queues ?? []).join(', ') })));
    clear(this.workers).append(this.table(['worker', '', 'work', 'trouble', 'queues'], rows));
  }

  renderTasks(tasks) {
    const { el, clear, clock } = this.f;
    const rows = tasks.map((t) => el('tr', { class: STATE_CLASS[t.state] ?? '', dataset: { uuid: t.uuid, state: t.state ?? '' },
      title: t.exception ?? '', onclick: () => t.worker && this.app.graph.focus(`worker:${t.worker}`) },
      el('td', { text: clock(t.updated) }),
      el('td', { text: t.name ?? '(unknown)' }),
      el('td', { text: t.state ?? '' }),
      el('td', { text: t.worker ?? '' }),
      el('td', { text: t.queue ?? '' }),
      el('td', { text: t.runtime !== null && t.runtime !== undefined ? `${(t.runtime * 1000).toFixed(1)} ms` : '' }),
      el('td', { text: t.exception ?? (t.retries ? `retries: ${t.retries}` : '') })));
    clear(this.tasks).append(this.table(['when', 'task', 'state', 'worker', 'queue', 'runtime', 'exception'], rows));
  }

  renderNames(names) {
    const { el, clear, count, rate } = this.f;
    const ms = (s) => (s === null || s === undefined ? '–' : `${(s * 1000).toFixed(1)}`);
    const rows = Object.entries(names).map(([name, s]) => el('tr', {},
      el('td', { text: name }),
      el('td', { text: `${count(s.counts.sent)} / ${count(s.counts.received)} / ${count(s.counts.succeeded)}` }),
      el('td', { class: s.counts.failed ? 'sev-critical' : '', text: `${count(s.counts.failed)} / ${count(s.counts.retried)}` }),
      el('td', { text: rate(s.rates.succeeded ?? 0) }),
      el('td', { text: s.runtime ? `${ms(s.runtime.p50)} / ${ms(s.runtime.p90)} / ${ms(s.runtime.p99)}` : '–' })));
    clear(this.names).append(this.table(['task', 'sent / recv / ok', 'failed / retried', 'ok rate (1 min)', 'runtime ms p50/p90/p99'], rows));
  }

  renderQueues(queues) {
    const { el, clear, count } = this.f;
    const rows = Object.entries(queues).map(([name, q]) => {
      const node = this.app.graph.element(`queue:${name}`);
      const ready = node ? node.data('messages_ready') : null;
      return el('tr', {}, el('td', { text: name }), el('td', { text: count(q.sent_not_received) }),
        el('td', { text: ready === null ? '–' : count(ready) }));
    });
    clear(this.queues).append(this.table(['queue', 'sent, not received', 'broker: ready'], rows));
  }
}

/** The events source's health in the banner: an outage means a gap in what the graph shows. */
function watchSource(app) {
  let showing = false;
  app.on('status', (msg) => {
    if (msg?.source !== 'celery-events') return;
    const status = msg.status ?? {};
    if (!['ok', 'starting'].includes(status.state)) {
      showing = true;
      app.status.showBanner(`Celery events are ${status.state}: ${status.last_error ?? 'no detail'}. ` +
        'Reconnecting by itself; tasks in the meantime are missing from the graph (a gap).', 'warn');
    } else if (showing) {
      showing = false;
      app.status.showBanner(null);
    }
  });
}

export function install(app) {
  installStyles(app);
  const activity = new Activity(app);
  const panel = new TaskPanel(app);
  app.socket.on('activity', (frame) => activity.onFrame(frame));
  watchSource(app);
  app.celery = { activity, panel }; // for the browser tests
}
