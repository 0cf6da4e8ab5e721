// Side panels (tabs), the details view of a selected element, the status bar, the
// source-health banner and the legend. All text goes in through textContent.
import { ago, clock, count, el, plural } from './format.js';
import { failing, outageLine, sourceSummary } from './health.js';
import { isHealthy } from './vocabulary.js';

export class Tabs {
  constructor(nav, container) {
    this.nav = nav; this.container = container; this.tabs = new Map(); this.current = null; this.listeners = [];
  }

  /** Add a tab; returns its panel element. `claims(element)` says whether this tab, when open,
   * shows a click on the graph itself (the Tasks tab lists a clicked worker's tasks) instead of
   * giving way to the Details tab. */
  add(id, title, { claims = null } = {}) {
    const counter = el('span', { class: 'count', hidden: true });
    const button = el('button', { type: 'button', role: 'tab', id: `tab-${id}`, 'aria-selected': 'false', 'aria-controls': `panel-${id}`, onclick: () => this.show(id) }, title, counter);
    const panel = el('div', { class: 'tab-panel', id: `panel-${id}`, role: 'tabpanel', 'aria-labelledby': `tab-${id}`, hidden: true });
    this.nav.append(button);
    this.container.append(panel);
    this.tabs.set(id, { button, panel, counter, claims, title });
    if (this.tabs.size === 1) this.show(id);
    return panel;
  }

  show(id) {
    if (!this.tabs.has(id)) return;
    for (const [key, tab] of this.tabs) {
      tab.button.setAttribute('aria-selected', String(key === id));
      tab.panel.hidden = key !== id;
    }
    this.current = id;
    this.listeners.forEach((fn) => { try { fn(id); } catch (err) { console.error(err); } });
  }

  /** fn(id) after each tab change. */
  onShow(fn) { this.listeners.push(fn); }

  /** A click on the graph: the Details tab, unless the open tab claims the element. */
  showForSelection(ele, fallback = 'details') {
    const open = this.tabs.get(this.current);
    if (!(ele && open?.claims?.(ele))) this.show(fallback);
  }

  /** The number on a tab, with what it means (its tooltip); 0 hides it. */
  setCount(id, n, { title = '', tone = '' } = {}) {
    const tab = this.tabs.get(id);
    if (!tab) return;
    tab.counter.hidden = !n;
    tab.counter.textContent = n ? count(n) : '';
    tab.counter.className = `count${tone ? ` tone-${tone}` : ''}`;
    tab.button.title = title;
    tab.button.setAttribute('aria-label', title ? `${tab.title}: ${title}` : tab.title);
  }

  /** Hide a tab that cannot work here (Tasks offline); the first other tab opens instead. */
  setHidden(id, hidden) {
    const tab = this.tabs.get(id);
    if (!tab) return;
    tab.button.hidden = hidden;
    if (hidden && this.current === id) this.show([...this.tabs.keys()].find((k) => k !== id && !this.tabs.get(k).button.hidden));
  }
}

// The Details tab: see details.js.
export { Details } from './details.js';

/** The status bar (the graph's own source, counts, the socket) and the banner, which lists every
 * failing source, each with its own error and for how long, plus one passing message. */
export class StatusBar {
  constructor({ mode = 'live' } = {}) {
    this.mode = mode;
    this.dot = document.getElementById('status-dot');
    this.source = document.getElementById('status-source');
    this.detail = document.getElementById('status-detail');
    this.poll = document.getElementById('status-poll');
    this.counts = document.getElementById('status-counts');
    this.version = document.getElementById('status-version');
    this.socket = document.getElementById('status-socket');
    this.banner = document.getElementById('banner');
    this.statuses = new Map(); // source -> its latest status
    this.topologySource = null;
    this.message = null; // {text, level, until}: a passing message of a feature's (a vhost gone, a node not shown)
    setInterval(() => { this.renderPoll(); this.renderBanner(); }, 1000);
  }

  /** Every source's status at once (the hello frame); returns whether the graph is stale. */
  setAll(statuses, topologySource) {
    this.statuses = new Map(Object.values(statuses ?? {}).map((status) => [status.source, status]));
    if (topologySource) this.topologySource = topologySource;
    return this.render();
  }

  /** One source's new status; returns whether the graph is stale (its own source is failing). */
  setStatus(status, { topology = status.source === this.topologySource } = {}) {
    if (!status?.source) return this.graphStale();
    this.statuses.set(status.source, status);
    if (topology) this.topologySource = status.source;
    return this.render();
  }

  graphStale() {
    const own = this.statuses.get(this.topologySource);
    return Boolean(own && !isHealthy(own.state));
  }

  render() {
    const own = this.statuses.get(this.topologySource);
    if (own) {
      const healthy = isHealthy(own.state);
      this.dot.className = `dot ${healthy ? own.state : 'bad'}`;
      this.source.textContent = sourceSummary(own);
      this.detail.textContent = own.detail ?? '';
      this.detail.title = own.detail ?? '';
    }
    this.renderPoll();
    this.renderBanner();
    return this.graphStale();
  }

  renderPoll() {
    const own = this.statuses.get(this.topologySource);
    if (!own) return;
    this.poll.textContent = own.last_success ? `last read ${ago(own.last_success)}` : '';
  }

  renderBanner() {
    const now = Date.now() / 1000;
    const lines = failing(this.statuses, this.topologySource).map((status) => el('p', {
      class: 'banner-line', dataset: { source: status.source },
      text: outageLine(status, { now, topology: status.source === this.topologySource, clock }),
    }));
    if (this.message && this.message.until < now) this.message = null;
    if (this.message) lines.push(el('p', { class: 'banner-line', text: this.message.text }));
    const text = lines.map((line) => line.textContent).join('\n');
    if (text === this.shown) return; // unchanged: leave the DOM (and any selection in it) alone
    this.shown = text;
    this.banner.replaceChildren(...lines);
    this.banner.hidden = !lines.length;
    const onlyWarnings = !failing(this.statuses).length && this.message?.level === 'warn';
    this.banner.className = `banner${onlyWarnings ? ' warn' : ''}`;
  }

  /** A passing message under the sources' lines, gone after `forSeconds` (null: until cleared);
   * null text clears it. The sources' own lines stay as long as each source fails. */
  showBanner(text, level = 'error', { forSeconds = 10 } = {}) {
    const until = forSeconds === null ? Infinity : Date.now() / 1000 + forSeconds;
    this.message = text ? { text, level, until } : null;
    this.renderBanner();
  }

  /** Which figures the source gives (a snapshot's broker.figures): none means unknown, never 0. */
  setFigures(figures) { this.figures = figures ?? null; }

  setCounts(c, version) {
    // Consumers are counted from the ones drawn: where the broker lists none (statistics off), no count.
    const unlisted = this.figures?.consumer_counts === 'none' || this.figures?.consumer_details === 'none';
    const consumers = unlisted ? [] : [plural(c.consumers, 'consumer')];
    this.counts.textContent = [plural(c.exchanges, 'exchange'), plural(c.queues, 'queue'), plural(c.bindings, 'binding'),
      ...consumers].join(' · ');
    this.version.textContent = version === null || version === undefined ? '' : `v${version}`;
  }

  /** What the broker does not provide (statistics off, a refused listing), as the server words it. */
  setNotes(notes) {
    const box = document.getElementById('broker-notes');
    box.replaceChildren(...(notes ?? []).map((n) => el('p', {}, el('strong', { text: `Not shown: ${n.what}.` }), ` ${n.why}`)));
    box.hidden = !notes?.length;
  }

  /** The page's own connection to this service. A definitions file never changes, so it is
   * not called live there. */
  setConnected(connected) {
    if (!connected) this.socket.textContent = 'reconnecting…';
    else this.socket.textContent = this.mode === 'definitions' ? 'not live: a file' : 'live';
  }
}

// The legend and the toolbar menus it lives in: see legend.js.
export { renderLegend, setupMenus } from './legend.js';
