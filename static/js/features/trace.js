// Firehose tracing on the page: the Trace tab (trace-panel.js) starts and stops a trace of the
// vhost shown, and while one runs each sampled message is drawn moving along the path it
// really took (trace-layer.js), each traced edge carries the exact count, and the message list
// fills. The page watches the trace of the vhost it shows for as long as it is open (the
// service stops a trace soon after the last page watching it closes), from `trace` frames
// (state, counts, disagreements, unroutable publishers) and `trace-activity` frames (counts
// per edge, publishers, sampled messages, new and changed rows). A disagreement is also a
// finding on its exchange: the exchange's details show the message and both answers.
// Every broker string reaches the page as text only.
import { TraceLayer } from '../trace-layer.js';
import { EdgeTally, MarkerBudget, MessageList, PublisherTally, publisherLabel } from '../trace-logic.js';
import { TracePanel, disagreementTable } from './trace-panel.js';

async function answerOf(response) {
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error ?? `the server answered ${response.status}`);
  if (!body) throw new Error('the server\'s answer was not JSON');
  return body;
}

const CHOICES_EVERY_MS = 2000; // the exchange and queue lists follow the graph at most this often

class Trace {
  constructor(app) {
    this.app = app;
    this.list = new MessageList();
    this.edges = new EdgeTally();
    this.publishers = new PublisherTally();
    this.budget = new MarkerBudget();
    this.status = null;
    this.started = null; // the running trace's start: a new one clears what the page holds
    this.skew = 0; // the server's clock minus the page's
    this.layer = new TraceLayer(app.graph, app.graph.container.parentElement ?? app.graph.container);
    this.panel = new TracePanel(app, {
      start: (request) => this.start(request),
      stop: () => this.stop(),
      body: (id) => this.body(id),
      focus: (id) => this.focus(id),
      focusExchange: (name) => this.focusNode('exchange', name),
      row: (id) => this.list.get(id),
    });
    this.choicesAt = 0;
    setInterval(() => this.panel.tick(this.skew), 1000);
  }

  get allowed() { return this.panel.usable; }

  // ---- the page's side ----------------------------------------------------------------------------------

  setOffer(offer) {
    this.panel.setOffer(offer);
    this.subscribe();
  }

  /** Watch the trace of the vhost shown (again after a reconnect). */
  subscribe() {
    const vhost = this.app.vhost;
    if (!this.allowed || !vhost || !this.app.socket.connected) return;
    this.app.socket.emit('trace-subscribe', { vhost });
  }

  onVhost(vhost) {
    this.reset();
    this.status = null;
    this.panel.setStatus(null);
    this.panel.setVhost(vhost);
    this.panel.showError(null);
    this.syncChoices(true);
    this.subscribe();
  }

  /** What the page holds of a trace: gone when another starts or the vhost changes. */
  reset() {
    this.list.clear();
    this.edges.clear();
    this.publishers.clear();
    this.layer.clear();
    this.panel.clearMessages();
    this.started = null;
  }

  syncChoices(now = false) {
    if (!now && Date.now() - this.choicesAt < CHOICES_EVERY_MS) return;
    this.choicesAt = Date.now();
    this.panel.syncChoices();
  }

  // ---- frames -----------------------------------------------------------------------------------------

  onStatus(status) {
    if (!status || status.vhost !== this.app.vhost) return;
    const fresh = status.started && status.started !== this.started;
    if (fresh) {
      this.reset();
      this.started = status.started;
    }
    this.status = status;
    this.panel.setStatus(status);
    const on = status.state === 'on';
    this.layer.setActive(on);
    if (!on) this.layer.setBadges([]); // the counts stay in the tab; the graph is left as it was
    if (fresh) this.load(status.vhost);
  }

  onActivity(frame) {
    if (!frame || frame.vhost !== this.app.vhost) return;
    const now = performance.now() / 1000;
    if (typeof frame.at === 'number') this.skew = frame.at - Date.now() / 1000;
    this.edges.add(frame.edges, now);
    this.publishers.add(frame.publishers);
    if (this.status?.state === 'on') {
      this.layer.setBadges(this.edges.badges(now));
      this.layer.setStubs(this.stubs());
    }
    if (frame.counts && this.status) {
      this.status = { ...this.status, counts: frame.counts };
      this.panel.setCounts(frame.counts);
    }
    this.animate(frame);
    this.panel.renderMessages(this.list, this.list.upsert(frame.messages));
  }

  /** exchange id -> {label, more, node} for the lead-ins: its busiest publisher and how many others. */
  stubs() {
    const found = new Map();
    for (const [exchange, rows] of this.publishers.byExchange()) {
      const top = rows[0];
      const others = rows.length - 1;
      found.set(exchange, { label: publisherLabel(top), more: others, node: rows.length === 1 ? top.node : null });
    }
    return found;
  }

  animate(frame) {
    const picked = this.budget.admit(frame.samples, { now: performance.now() / 1000, alive: this.layer.alive, interval: frame.interval ?? 0.25 });
    for (const { sample, delay } of picked) {
      const exchangeId = sample.path?.[0];
      const p = sample.publisher ? this.publishers.find(sample.publisher.connection, sample.publisher.user, exchangeId) : null;
      this.layer.launch(sample, { delay, publisher: p?.node ?? null });
    }
  }

  // ---- asking the service --------------------------------------------------------------------------------

  async load(vhost) {
    try {
      const body = await answerOf(await fetch(`/api/trace?${new URLSearchParams({ vhost })}`, { headers: { Accept: 'application/json' } }));
      if (vhost !== this.app.vhost) return;
      this.panel.renderMessages(this.list, this.list.upsert(body.messages ?? []));
    } catch (err) {
      console.warn('trace: could not read the recent messages', err);
    }
  }

  async start(request) {
    const vhost = this.app.vhost;
    this.panel.showError(null);
    try {
      const status = await answerOf(await fetch('/api/trace', {
        method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ vhost, ...request }),
      }));
      this.onStatus(status);
      this.subscribe();
    } catch (err) {
      this.panel.showError(`The trace did not start: ${err.message === 'Failed to fetch' ? 'the service did not answer' : err.message}`);
    }
  }

  async stop() {
    const vhost = this.app.vhost;
    this.panel.showError(null);
    try {
      this.onStatus(await answerOf(await fetch(`/api/trace?${new URLSearchParams({ vhost })}`, { method: 'DELETE', headers: { Accept: 'application/json' } })));
    } catch (err) {
      this.panel.showError(`The trace did not stop: ${err.message === 'Failed to fetch' ? 'the service did not answer' : err.message}`);
    }
  }

  /** One message's body, only when the person asks for it. */
  async body(id) {
    const vhost = this.app.vhost;
    try {
      const status = await answerOf(await fetch(`/api/trace?${new URLSearchParams({ vhost, bodies: '1' })}`, { headers: { Accept: 'application/json' } }));
      if (vhost !== this.app.vhost) return;
      this.panel.showBody(id, (status.messages ?? []).find((m) => m.id === id) ?? null);
    } catch (err) {
      this.panel.showError(`The body could not be read: ${err.message}`);
    }
  }

  focus(id) {
    const graph = this.app.graph;
    if (!graph.focus(id)) { this.app.status.showBanner('That element is not on the graph (it may be hidden).', 'warn'); return; }
    this.app.bus.emit('select', graph.element(id));
  }

  focusNode(kind, name) {
    const found = this.app.graph.cy.nodes().filter((n) => n.data('kind') === kind && n.data('name') === name);
    if (found.nonempty()) this.focus(found[0].id());
    else this.app.status.showBanner('That exchange is not on the graph.', 'warn');
  }

  /** An exchange's details: the traced publishes it routed otherwise than simulated (its finding). */
  section(ele) {
    if (ele.isEdge() || ele.data('kind') !== 'exchange' || !this.status) return null;
    const rows = (this.status.disagreements ?? []).filter((row) => row.exchange === ele.data('name'));
    if (!rows.length) return null;
    const { el } = this.app.format;
    return el('section', { class: 'details-section trace-details', 'aria-label': 'Traced messages routed otherwise than simulated' },
      el('h3', { text: 'Traced: routed otherwise than simulated' }),
      ...rows.map((row) => disagreementTable(row)));
  }
}

export function install(app) {
  const trace = new Trace(app);
  app.trace = trace;
  app.details.addSection((ele) => trace.section(ele), { top: true });
  app.on('hello', (hello) => trace.setOffer(hello?.tracing));
  if (app.hello) trace.setOffer(app.hello.tracing);
  app.on('vhost', (vhost) => trace.onVhost(vhost));
  if (app.vhost) trace.onVhost(app.vhost);
  app.on('snapshot', () => trace.syncChoices(true));
  app.on('patch', () => trace.syncChoices());
  app.socket.on('connect', () => trace.subscribe());
  app.socket.on('trace', (status) => trace.onStatus(status));
  app.socket.on('trace-activity', (frame) => trace.onActivity(frame));
}
