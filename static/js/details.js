// The Details tab: everything known about the selected node or edge, in human terms. Labels
// and formats come from the server's vocabulary (fieldFor); figures are formatted (humane.js);
// a value nobody reported says so in words; arguments and other objects read as key: value
// rows. Features add sections above the fields (a node's findings) or below (a depth chart).
// Every broker string goes in as text (format.nameNode), never as HTML.
import { clear, displayName, el, nameNode } from './format.js';
import * as human from './humane.js';
import { argumentInfo, fieldFor, kindLabel, rateLabel, workerLinkSource } from './vocabulary.js';

// The order fields read in, per kind of element; anything else the vocabulary knows follows.
const ORDER = {
  queue: ['messages_ready', 'messages_unacknowledged', 'consumers', 'consumer_utilisation', 'rates', 'type', 'state',
    'node', 'members', 'online', 'delivery_limit', 'durable', 'auto_delete', 'exclusive', 'policy',
    'effective_policy_definition', 'arguments', 'default_routed'],
  exchange: ['type', 'rates', 'durable', 'auto_delete', 'internal', 'alternate_exchange', 'policy', 'arguments'],
  worker: ['processed', 'succeeded', 'failed', 'retried', 'active', 'pool', 'loadavg', 'freq', 'sw_ident', 'sw_ver',
    'pid', 'offline_since', 'queues', 'connection'],
  connection: ['user', 'peer', 'client'],
  consumer: ['queue', 'prefetch_count', 'ack_required', 'active', 'exclusive', 'channel', 'connection'],
  edge: ['routing_key', 'arguments', 'destination_type', 'learned'],
};
// Shown elsewhere (title, subtitle, own section) or only the page's own bookkeeping.
const SHOWN_ELSEWHERE = new Set(['name', 'label', 'kind', 'id', 'online:worker', 'consumers:worker', 'offline_since:worker']);
// Fields that do not apply to this element: a classic queue has no replicas.
const NOT_APPLICABLE = {
  'queue.members': (d) => !d.members?.length,
  'queue.online': (d) => !d.members?.length,
};

/** Words about a value (a missing one's explanation): a command-line flag is never split. */
function words(textValue) {
  return el('span', { class: 'muted unknown' }, ...String(textValue).split(/(--[\w-]+)/).map((part, i) => (i % 2 ? el('span', { class: 'nowrap', text: part }) : part)));
}

/** A string from the broker: itself (invisible characters marked); the empty string as "". */
function text(value) {
  return value === '' ? el('span', { class: 'muted', text: '"" (empty)' }) : nameNode(String(value));
}

function names(list) {
  if (!Array.isArray(list) || !list.length) return el('span', { class: 'muted', text: 'none' });
  return el('span', { class: 'names' }, ...list.flatMap((item, i) => (i ? [', ', text(item)] : [text(item)])));
}

/** One value of a JSON object (arguments, a policy, client properties): key: value rows. */
function jsonValue(value, key = null) {
  const info = key === null ? null : argumentInfo(key);
  if (value === null || value === undefined) return el('span', { class: 'muted', text: 'null' });
  if (info && typeof value === 'number') {
    if (info.format === 'ms') return human.milliseconds(value);
    if (info.format === 'bytes') return human.bytes(value);
    if (info.format === 'messages') return human.counted(value, 'message');
    if (info.format === 'count') return human.number(value);
  }
  if (typeof value === 'boolean') return human.yesNo(value);
  if (typeof value === 'number') return human.decimal(value);
  if (typeof value === 'string') return text(value);
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) return names(value.map(String));
    return jsonTable(Object.fromEntries(value.map((v, i) => [String(i + 1), v])));
  }
  return jsonTable(value);
}

function jsonTable(object) {
  const entries = Object.entries(object ?? {});
  if (!entries.length) return el('span', { class: 'muted', text: 'none' });
  const table = el('table', { class: 'kv nested' });
  for (const [key, value] of entries) {
    const info = argumentInfo(key);
    // A known argument reads by its meaning, its key under it for whoever looks for the key.
    const label = info ? [el('span', { text: info.label }), el('span', { class: 'raw-key', text: key })] : [nameNode(key)];
    table.append(el('tr', {}, el('th', {}, ...label), el('td', {}, jsonValue(value, key))));
  }
  return table;
}

function rates(value) {
  const entries = Object.entries(value ?? {}).filter(([, r]) => typeof r === 'number');
  if (!entries.length) return el('span', { class: 'muted', text: 'none reported' });
  const table = el('table', { class: 'kv nested' });
  for (const [key, r] of entries) table.append(el('tr', {}, el('th', { text: rateLabel(key) }), el('td', { text: human.perSecond(r) })));
  return table;
}

function deliveryLimit(value) {
  if (!value || typeof value !== 'object') return '';
  const limit = value.limit === null || value.limit === undefined ? 'no limit' : human.counted(value.limit, 'delivery', 'deliveries');
  return `${limit} (${value.source}); past it: ${value.then}`;
}

/** A field's value as a DOM node or text, by the vocabulary's format. */
export function formatValue(format, value) {
  switch (format) {
    case 'count': return human.number(value);
    case 'rate': return human.perSecond(value);
    case 'percent': return human.percent(value);
    case 'duration': return human.duration(value);
    case 'time': return `${human.clockTime(value)} (${human.ago(value)})`;
    case 'yes-no': return human.yesNo(value);
    case 'list': return names(value);
    case 'load': return Array.isArray(value) && value.length ? value.map((v) => human.decimal(v)).join(' · ') : 'none';
    case 'json': return jsonTable(value);
    case 'rates': return rates(value);
    case 'delivery-limit': return deliveryLimit(value);
    case 'learned': return workerLinkSource(value);
    default: return typeof value === 'object' ? jsonTable(value) : text(value);
  }
}

/** [field, label, value node] rows for an element's data, in reading order. */
export function fieldRows(kind, data) {
  const order = ORDER[kind] ?? [];
  const keys = Object.keys(data).filter((k) => !SHOWN_ELSEWHERE.has(k) && !SHOWN_ELSEWHERE.has(`${k}:${kind}`));
  keys.sort((a, b) => {
    const ia = order.indexOf(a); const ib = order.indexOf(b);
    return (ia < 0 ? 999 : ia) - (ib < 0 ? 999 : ib);
  });
  const rows = [];
  for (const key of keys) {
    const info = fieldFor(kind, key);
    if (!info) continue; // the page's own bookkeeping (positions, label text) or a flag shown another way
    if (NOT_APPLICABLE[`${kind}.${key}`]?.(data)) continue;
    const value = data[key];
    if (value === null || value === undefined) {
      if (info.missing) rows.push([key, info.label, words(info.missing)]);
      continue;
    }
    rows.push([key, info.label, formatValue(info.format, value)]);
  }
  return rows;
}

function kvTable(rows) {
  const table = el('table', { class: 'kv fields' });
  for (const [key, label, value] of rows) {
    table.append(el('tr', { dataset: { field: key } }, el('th', { text: label }), el('td', {}, value)));
  }
  return table;
}

function subtitle(ele) {
  const d = ele.data();
  if (ele.isEdge()) {
    if (d.implicit) return 'implicit default-exchange binding';
    if (d.worker) return 'queue → Celery worker';
    return kindLabel(d.kind === 'binding' && d.destination_type === 'exchange' ? 'exchange-binding' : d.kind);
  }
  if (d.kind === 'exchange') {
    if (d.missing) return 'exchange (missing: referenced, not on the broker)';
    return d.default ? 'the AMQP default exchange' : `${d.type ?? ''} ${kindLabel('exchange')}`.trim();
  }
  if (d.kind === 'queue' && d.type && d.type !== 'classic') return `${d.type} ${kindLabel('queue')}`;
  return kindLabel(d.kind);
}

function workerState(d) {
  if (d.online) return el('p', { class: 'worker-state' }, el('span', { class: 'pill tone-ok', text: 'online' }), ' sending heartbeats');
  const since = d.offline_since ? ` since ${human.clockTime(d.offline_since)} (${human.ago(d.offline_since)})` : '';
  return el('p', { class: 'worker-state' }, el('span', { class: 'pill tone-off', text: 'offline' }), ` no heartbeat${since}`);
}

/** A Celery worker's consumers, folded into its node: one row per queue it consumes. */
function workerConsumers(list) {
  const table = el('table', { class: 'grid-table consumers-table' },
    el('thead', {}, el('tr', {}, ...['Queue', 'Consumer tag', 'Prefetch', 'Acks', 'Active'].map((h) => el('th', { text: h })))));
  const body = el('tbody');
  for (const c of list) {
    body.append(el('tr', {},
      el('td', {}, text(c.queue)), el('td', {}, text(c.consumer_tag)),
      el('td', { class: 'num', text: c.prefetch_count ? human.number(c.prefetch_count) : 'unlimited' }),
      el('td', { text: human.yesNo(c.ack_required) }), el('td', { text: human.yesNo(c.active) })));
  }
  table.append(body);
  return el('section', { class: 'details-section worker-consumers' },
    el('h3', { text: `Consumers on its connection (${human.number(list.length)})` }), table);
}

export class Details {
  constructor(panel, graph) {
    this.panel = panel; this.graph = graph; this.selected = null;
    this.sections = { top: [], bottom: [] };
    this.showHint();
  }

  showHint() {
    clear(this.panel).append(el('div', { class: 'details' },
      el('p', { class: 'hint', text: 'Click an exchange, queue, binding, consumer or worker to see everything known about it. Drag to pan, scroll to zoom.' })));
  }

  /** Features add sections: fn(element) -> Node | null; `top` puts it above the fields. */
  addSection(fn, { top = false } = {}) { this.sections[top ? 'top' : 'bottom'].push(fn); }

  show(ele) {
    this.selected = ele ? ele.id() : null;
    if (!ele) { this.showHint(); return; }
    const d = ele.data();
    const kind = ele.isEdge() ? 'edge' : d.kind;
    const title = ele.isEdge()
      ? [nameNode(displayName(ele.source().data())), ' → ', nameNode(displayName(ele.target().data()))]
      : [nameNode(displayName(d))];
    const box = el('div', { class: 'details', dataset: { kind: kind ?? '' } },
      el('div', { class: 'kind', text: subtitle(ele) }),
      el('h2', {}, ...title));
    if (kind === 'worker') box.append(workerState(d));
    for (const section of this.sections.top) this._append(box, section, ele);
    const rows = fieldRows(kind, d);
    if (ele.isEdge()) {
      rows.unshift(['from', 'From', nameNode(displayName(ele.source().data()))], ['to', 'To', nameNode(displayName(ele.target().data()))]);
    }
    box.append(kvTable(rows));
    if (kind === 'worker' && Array.isArray(d.consumers) && d.consumers.length) box.append(workerConsumers(d.consumers));
    for (const section of this.sections.bottom) this._append(box, section, ele);
    clear(this.panel).append(box);
  }

  _append(box, section, ele) {
    try {
      const extra = section(ele);
      if (extra) box.append(extra);
    } catch (err) {
      console.error('details section failed', err);
    }
  }

  refresh() {
    if (this.selected === null) return;
    const ele = this.graph.element(this.selected);
    if (ele) this.show(ele); else this.showHint();
  }
}

// Which figures each kind shows, and the words for them (the server says where each came from).
const FIGURES_SHOWN = {
  queue: [['depths', 'Depths'], ['consumer_counts', 'Consumer counts'], ['rates', 'Rates'], ['topology', 'Everything else']],
  exchange: [['rates', 'Rates'], ['topology', 'Everything else']],
};

/** "Where these figures come from": each figure's source and age, from the topology source's
 * status (`figures`: {figure: {source, at}}); a figure nobody gives is not listed. */
export function figureSources(kind, figures, now = Date.now() / 1000) {
  const rows = (FIGURES_SHOWN[kind] ?? []).filter(([key]) => figures?.[key]?.source)
    .map(([key, label]) => [key, label, el('span', {}, text(figures[key].source), el('span', { class: 'muted', text: ` · ${human.ago(figures[key].at, now)}` }))]);
  if (!rows.length) return null;
  return el('div', { class: 'figure-sources' }, el('h3', { text: 'Where these figures come from' }), kvTable(rows));
}
