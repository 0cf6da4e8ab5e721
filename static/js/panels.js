// Side panels (tabs), the details view of a selected element, the status bar, the
// source-health banner and the legend. All text goes in through textContent.
import { ago, clear, clock, count, displayName, el, valueText } from './format.js';

export class Tabs {
  constructor(nav, container) { this.nav = nav; this.container = container; this.tabs = new Map(); }

  /** Add a tab; returns its panel element. */
  add(id, title) {
    const counter = el('span', { class: 'count', hidden: true });
    const button = el('button', { type: 'button', role: 'tab', id: `tab-${id}`, 'aria-selected': 'false', onclick: () => this.show(id) }, title, counter);
    const panel = el('div', { class: 'tab-panel', id: `panel-${id}`, role: 'tabpanel', hidden: true });
    this.nav.append(button);
    this.container.append(panel);
    this.tabs.set(id, { button, panel, counter });
    if (this.tabs.size === 1) this.show(id);
    return panel;
  }

  show(id) {
    for (const [key, tab] of this.tabs) {
      tab.button.setAttribute('aria-selected', String(key === id));
      tab.panel.hidden = key !== id;
    }
  }

  setCount(id, n) {
    const tab = this.tabs.get(id);
    if (!tab) return;
    tab.counter.hidden = !n;
    tab.counter.textContent = n ? count(n) : '';
  }
}

const HIDDEN_FIELDS = new Set(['display', 'fillStops', 'fillColour', 'placed', 'label', 'parent']);
const FIELD_ORDER = ['name', 'type', 'messages_ready', 'messages_unacknowledged', 'consumers', 'consumer_utilisation',
  'state', 'routing_key', 'arguments', 'policy', 'effective_policy_definition', 'alternate_exchange', 'rates'];

function kvTable(entries) {
  const table = el('table', { class: 'kv' });
  for (const [key, value] of entries) {
    const cell = value instanceof Node ? value : valueText(value);
    table.append(el('tr', {}, el('th', { text: key }), el('td', {}, cell)));
  }
  return table;
}

function sortedFields(data) {
  const keys = Object.keys(data).filter((k) => !HIDDEN_FIELDS.has(k) && k !== 'id' && k !== 'kind');
  return keys.sort((a, b) => {
    const ia = FIELD_ORDER.indexOf(a); const ib = FIELD_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
}

export class Details {
  constructor(panel, graph) {
    this.panel = panel; this.graph = graph; this.selected = null; this.sections = [];
    this.showHint();
  }

  showHint() {
    clear(this.panel).append(el('div', { class: 'details' },
      el('p', { class: 'hint', text: 'Click an exchange, queue, binding or consumer to see everything the broker says about it. Drag to pan, scroll to zoom.' })));
  }

  /** Features add sections under the fields (e.g. a sparkline): fn(element) -> Node | null. */
  addSection(fn) { this.sections.push(fn); }

  show(ele) {
    this.selected = ele ? ele.id() : null;
    if (!ele) { this.showHint(); return; }
    const d = ele.data();
    const title = ele.isEdge() ? `${displayName(ele.source().data())} → ${displayName(ele.target().data())}` : displayName(d);
    const entries = sortedFields(d).map((k) => [k, d[k]]);
    if (ele.isEdge()) entries.unshift(['from', displayName(ele.source().data())], ['to', displayName(ele.target().data())]);
    const box = el('div', { class: 'details' },
      el('div', { class: 'kind', text: d.implicit ? 'implicit default-exchange binding' : (d.kind ?? '') }),
      el('h2', { text: title }),
      kvTable(entries));
    for (const section of this.sections) {
      const extra = section(ele);
      if (extra) box.append(extra);
    }
    clear(this.panel).append(box);
  }

  refresh() {
    if (this.selected === null) return;
    const ele = this.graph.element(this.selected);
    if (ele) this.show(ele); else this.showHint();
  }
}

const STATE_TEXT = {
  ok: 'ok', starting: 'starting', stale: 'stale', unreachable: 'unreachable', unauthorised: 'unauthorised', error: 'failing',
};

export class StatusBar {
  constructor() {
    this.dot = document.getElementById('status-dot');
    this.source = document.getElementById('status-source');
    this.detail = document.getElementById('status-detail');
    this.poll = document.getElementById('status-poll');
    this.counts = document.getElementById('status-counts');
    this.version = document.getElementById('status-version');
    this.socket = document.getElementById('status-socket');
    this.banner = document.getElementById('banner');
    this.status = null;
    setInterval(() => this.renderPoll(), 1000);
  }

  setStatus(status) {
    this.status = status;
    const bad = !['ok', 'starting'].includes(status.state);
    this.dot.className = `dot ${bad ? 'bad' : status.state}`;
    this.source.textContent = `${status.source}: ${STATE_TEXT[status.state] ?? status.state}`;
    this.detail.textContent = status.detail ?? '';
    this.renderPoll();
    if (bad) {
      const since = status.last_success ? `Showing the last known graph, from ${clock(status.last_success)} (stale).` : 'No graph has been read yet.';
      this.showBanner(`${status.source} is ${STATE_TEXT[status.state] ?? status.state}: ${status.last_error ?? 'no detail'}\n${since} Retrying by itself.`);
    } else {
      this.showBanner(null);
    }
    return bad;
  }

  renderPoll() {
    if (!this.status) return;
    this.poll.textContent = this.status.last_success ? `last read ${ago(this.status.last_success)}` : '';
  }

  showBanner(text, level = 'error') {
    this.banner.hidden = !text;
    this.banner.className = `banner ${level === 'warn' ? 'warn' : ''}`;
    this.banner.textContent = text ?? '';
  }

  setCounts(c, version) {
    this.counts.textContent = `${count(c.exchanges)} exchanges · ${count(c.queues)} queues · ${count(c.bindings)} bindings · ${count(c.consumers)} consumers`;
    this.version.textContent = version === null || version === undefined ? '' : `v${version}`;
  }

  setConnected(connected) {
    this.socket.textContent = connected ? 'live' : 'reconnecting…';
  }
}

export function renderLegend(container) {
  const item = (marker, text) => el('span', {}, el('span', { class: marker }), text);
  container.append(
    item('swatch sw-direct', 'direct'), item('swatch sw-fanout', 'fanout'),
    item('swatch sw-topic', 'topic'), item('swatch sw-headers', 'headers'),
    item('swatch sw-queue', 'queue (fill = depth)'), item('swatch sw-consumer', 'consumer'),
    item('line ln-binding', 'binding'), item('line ln-e2e', 'exchange → exchange'),
    item('line dashed ln-dead', 'dead-letter'), item('line dashed ln-alt', 'alternate'),
  );
}
