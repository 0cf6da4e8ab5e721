// Firehose tracing, the page's own logic. Pure (no DOM), so Node tests it: the bounded list of
// recent messages, the per-edge tallies, the publishers, which sampled messages get a marker
// at high rates and when each hop of one starts, and the words the Trace tab shows. Words for
// states, verdicts and counts come from the server's vocabulary.
import { counted, duration, number } from './humane.js';
import { vocabulary } from './vocabulary.js';

export const MAX_ROWS = 200; // the service keeps as many recent messages (limits.recent_messages)
export const MAX_ALIVE = 90; // traced-message markers on the graph at once
export const PER_LANE = 4; // markers a second starting from any one exchange or queue
export const STUB_SECONDS = 0.55; // publisher → exchange, for a publisher not on the graph
const RATE_WINDOW = 5; // seconds a badge's rate is averaged over (one frame's is too jumpy to read)
const SHOWN_RATE = 2; // messages a second: slower edges show their count alone

// ---- the words --------------------------------------------------------------------------------------

export function traceState(state) {
  return vocabulary.trace_states?.[state] ?? { label: state ?? 'off', tone: 'idle' };
}

export function traceVerdict(verdict) {
  return verdict ? (vocabulary.trace_verdicts?.[verdict] ?? { label: verdict, tone: 'idle' }) : null;
}

export const countLabel = (key) => vocabulary.trace_counts?.[key] ?? key;
export const uncheckedReason = (key) => vocabulary.trace_unchecked_reasons?.[key] ?? key;

/** "12,480 traced publishes, 0 disagreements": the figure a person looks for first. */
export function headline(counts) {
  const c = counts ?? {};
  return `${counted(c.publishes ?? 0, 'traced publish', 'traced publishes')}, ${counted(c.disagreed ?? 0, 'disagreement')}`;
}

/** The figures under the headline: what else came, and what was lost or not compared. */
export function sideFigures(counts) {
  const c = counts ?? {};
  const dropped = c.dropped_exact === false ? `at least ${number(c.dropped ?? 0)}` : number(c.dropped ?? 0);
  const figures = [
    `${number(c.deliveries ?? 0)} ${countLabel('deliveries')}`,
    `${dropped} dropped`,
    `${number(c.unchecked_reasons?.sampled ?? 0)} sampled away`,
    `${number(c.unroutable ?? 0)} ${countLabel('unroutable')}`,
  ];
  if (c.pending) figures.push(`${number(c.pending)} ${countLabel('pending')}`);
  return figures.join(' · ');
}

/** Every count with its label, and each reason a publish was not compared or a copy not read. */
export function countRows(counts) {
  const c = counts ?? {};
  const rows = Object.keys(vocabulary.trace_counts ?? {}).filter((key) => typeof c[key] === 'number')
    .map((key) => ({ key, label: countLabel(key), value: key === 'dropped' && c.dropped_exact === false ? `at least ${number(c[key])}` : number(c[key]) }));
  for (const [reason, n] of Object.entries(c.unchecked_reasons ?? {})) {
    rows.push({ key: `unchecked:${reason}`, label: `not compared: ${uncheckedReason(reason)}`, value: number(n) });
  }
  for (const [reason, n] of Object.entries(c.malformed_reasons ?? {})) {
    rows.push({ key: `malformed:${reason}`, label: `unreadable: ${reason}`, value: number(n) });
  }
  return rows;
}

/** How long until the trace stops by itself ('' when it will not). */
export function timeLeft(until, now) {
  if (typeof until !== 'number' || typeof now !== 'number') return '';
  const left = Math.round(until - now);
  return left > 0 ? `stops by itself in ${duration(left)}` : 'its time is up: stopping';
}

/** What the trace covers, in words, with the names as parts (the page renders names as text). */
export function filterParts(status) {
  const { exchange, queue } = status ?? {};
  const hasExchange = typeof exchange === 'string';
  const hasQueue = typeof queue === 'string';
  if (!hasExchange && !hasQueue) return [{ text: 'every publish and every delivery of the vhost' }];
  const parts = [];
  if (hasExchange) parts.push({ text: 'publishes to exchange ' }, { name: exchange, exchange: true });
  if (hasExchange && hasQueue) parts.push({ text: ' and ' });
  if (hasQueue) parts.push({ text: 'deliveries from queue ' }, { name: queue });
  return parts;
}

/** Which nodes of a cluster the trace covers: [{tone, text}], tone 'warn' when some are not traced. */
export function clusterLines(broker) {
  if (!broker) return [];
  const untraced = Array.isArray(broker.untraced_nodes) ? broker.untraced_nodes : [];
  const lines = [];
  if (untraced.length) lines.push({ tone: 'warn', text: `Not traced: ${untraced.join(', ')}.` });
  if (broker.note) lines.push({ tone: untraced.length ? 'warn' : 'muted', text: broker.note });
  return lines;
}

/** A message's verdict in a row: the simulator's word, or why there is none. */
export function rowVerdict(row) {
  if (!row?.published) return { label: 'publish not seen', tone: 'idle' };
  return traceVerdict(row.verdict) ?? { label: 'not compared', tone: 'idle' };
}

/** The client's own address in a connection name ("10.0.0.7:51234 -> 10.0.0.2:5672"). */
export function clientAddress(connection) {
  const text = String(connection ?? '');
  const at = text.indexOf(' -> ');
  return at > 0 ? text.slice(0, at) : text;
}

/** A publisher as the graph labels it: its node's label when it is on the graph, else user @ address. */
export function publisherLabel(publisher) {
  if (!publisher) return 'unknown publisher';
  if (publisher.node && publisher.label) return String(publisher.label);
  const where = publisher.connection ? clientAddress(publisher.connection) : 'unknown connection';
  return publisher.user ? `${publisher.user} @ ${where}` : where;
}

/** A count on a traced edge: the total since the trace started, and its rate when given. */
export function badgeText(total, rate = null) {
  const shown = total >= 1e4 ? `${(total / 1e3).toFixed(total >= 1e5 ? 0 : 1)}k` : number(total);
  return typeof rate === 'number' && rate > 0 ? `${shown} · ${rate >= 10 ? Math.round(rate) : Math.round(rate * 10) / 10}/s` : shown;
}

const BADGE_SPOTS = [0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85];

/**
 * Where each badge goes along its edge: the first of a few spots (fractions from the source) whose
 * box covers neither a badge placed before it nor anything `blocked(box)` says is drawn there
 * (the graph's nodes and their labels). `items`: [{id, a, b, w, h}] (ends and size in pixels).
 * Returns id -> {x, y}; a badge with no free spot is left out (zooming in makes room), so that a
 * count never covers a name.
 */
export function placeBadges(items, { blocked = () => false, spots = BADGE_SPOTS } = {}) {
  const placed = [];
  const found = new Map();
  for (const item of items) {
    for (const t of spots) {
      const x = item.a.x + (item.b.x - item.a.x) * t;
      const y = item.a.y + (item.b.y - item.a.y) * t;
      const box = { x1: x - item.w / 2 - 2, y1: y - item.h / 2 - 1, x2: x + item.w / 2 + 2, y2: y + item.h / 2 + 1 };
      if (placed.some((o) => overlaps(box, o)) || blocked(box)) continue;
      placed.push(box);
      found.set(item.id, { x, y });
      break;
    }
  }
  return found;
}

export const overlaps = (a, b) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;

/**
 * Boxes (x1, y1, x2, y2) filed in square cells, so that asking what a small box covers looks at
 * the few boxes near it, not at every node of the graph.
 */
export class BoxGrid {
  constructor(boxes, cell = 80) {
    this.cell = cell;
    this.cells = new Map();
    for (const box of boxes) this._cells(box, (key) => { if (!this.cells.has(key)) this.cells.set(key, []); this.cells.get(key).push(box); });
  }

  /** Whether `box` overlaps any box filed here. */
  covers(box) {
    let hit = false;
    this._cells(box, (key) => { if (!hit) hit = (this.cells.get(key) ?? []).some((o) => overlaps(box, o)); });
    return hit;
  }

  _cells(box, visit) {
    const c = this.cell;
    for (let i = Math.floor(box.x1 / c); i <= Math.floor(box.x2 / c); i++) {
      for (let j = Math.floor(box.y1 / c); j <= Math.floor(box.y2 / c); j++) visit(`${i},${j}`);
    }
  }
}

// ---- what the page keeps ---------------------------------------------------------------------------------

/** The message list: rows by id, updated in place, the newest first, at most `max` of them. */
export class MessageList {
  constructor(max = MAX_ROWS) { this.max = max; this.rows = new Map(); }

  /** Rows from a frame or a read: returns the ids {added, changed, removed} for the page to redraw. */
  upsert(rows) {
    const added = [];
    const changed = [];
    for (const row of rows ?? []) {
      if (!row || !Number.isInteger(row.id)) continue;
      (this.rows.has(row.id) ? changed : added).push(row.id);
      this.rows.set(row.id, row);
    }
    const removed = [];
    if (this.rows.size > this.max) {
      const oldest = [...this.rows.keys()].sort((a, b) => a - b).slice(0, this.rows.size - this.max);
      oldest.forEach((id) => { this.rows.delete(id); removed.push(id); });
    }
    const gone = new Set(removed);
    return { added: added.filter((id) => !gone.has(id)), changed: changed.filter((id) => !gone.has(id)), removed };
  }

  get(id) { return this.rows.get(id) ?? null; }
  get size() { return this.rows.size; }
  newestFirst() { return [...this.rows.values()].sort((a, b) => b.id - a.id); }
  clear() { this.rows.clear(); }
}

/** Messages along each edge since the trace started (exact), and their rate over the last seconds. */
export class EdgeTally {
  constructor(window = RATE_WINDOW) { this.window = window; this.edges = new Map(); this.since = null; }

  add(frameEdges, now) {
    if (this.since === null) this.since = now;
    for (const [id, fig] of Object.entries(frameEdges ?? {})) {
      const n = Number(fig?.count) || 0;
      const entry = this.edges.get(id) ?? { total: 0, recent: [] };
      entry.total += n;
      entry.recent.push([now, n]);
      this.edges.set(id, entry);
    }
  }

  /** Messages a second along an edge over the last `window` seconds (or since the first frame). */
  rate(id, now) {
    const entry = this.edges.get(id);
    if (!entry) return 0;
    while (entry.recent.length && now - entry.recent[0][0] > this.window) entry.recent.shift();
    const span = Math.min(this.window, Math.max(1, now - (this.since ?? now)));
    return entry.recent.reduce((sum, [, n]) => sum + n, 0) / span;
  }

  /** [id, text] of each edge with traffic: its count, and its rate when it is too fast to follow. */
  badges(now) {
    return [...this.edges.keys()].map((id) => {
      const rate = this.rate(id, now);
      return [id, badgeText(this.total(id), rate >= SHOWN_RATE ? rate : null)];
    });
  }

  total(id) { return this.edges.get(id)?.total ?? 0; }
  clear() { this.edges.clear(); this.since = null; }
}

/** Who published to each exchange: connection, user, counts; the busiest first. */
export class PublisherTally {
  constructor(max = 200) { this.max = max; this.rows = new Map(); }

  add(publishers) {
    for (const p of publishers ?? []) {
      const key = JSON.stringify([p.connection, p.user, p.exchange]);
      const row = this.rows.get(key);
      if (row) {
        row.count += Number(p.count) || 0;
        row.unroutable += Number(p.unroutable) || 0;
        row.node = p.node ?? row.node;
        row.label = p.label ?? row.label;
      } else if (this.rows.size < this.max) {
        this.rows.set(key, { ...p, count: Number(p.count) || 0, unroutable: Number(p.unroutable) || 0 });
      }
    }
  }

  /** exchange node id -> its publishers, busiest first. */
  byExchange() {
    const found = new Map();
    for (const row of this.rows.values()) {
      if (!found.has(row.exchange)) found.set(row.exchange, []);
      found.get(row.exchange).push(row);
    }
    found.forEach((rows) => rows.sort((a, b) => b.count - a.count));
    return found;
  }

  /** The publisher row of a sample's publisher, if known. */
  find(connection, user, exchange) {
    return this.rows.get(JSON.stringify([connection, user, exchange])) ?? null;
  }

  clear() { this.rows.clear(); }
}

// ---- markers ---------------------------------------------------------------------------------------------

/**
 * Which of a frame's sampled messages get a marker: at most `perLane` a second starting from any
 * one exchange or queue, and never more than `maxAlive` markers at once. Those admitted start
 * spread over the frame's interval, so that a busy edge shows a steady stream, not bursts. The
 * counts on the edges stay exact whatever is left out here.
 */
export class MarkerBudget {
  constructor({ maxAlive = MAX_ALIVE, perLane = PER_LANE } = {}) {
    this.maxAlive = maxAlive;
    this.perLane = perLane;
    this.lanes = new Map(); // lane -> starts in the last second (times)
  }

  admit(samples, { now, alive, interval = 0.25 }) {
    const picked = [];
    const list = (samples ?? []).filter((s) => Array.isArray(s?.path) && s.path.length);
    let room = Math.max(0, this.maxAlive - alive);
    list.forEach((sample, i) => {
      if (!room) return;
      const lane = `${sample.kind}\n${sample.path[0]}`;
      const starts = (this.lanes.get(lane) ?? []).filter((t) => now - t < 1);
      const delay = (i / Math.max(1, list.length)) * interval;
      if (starts.length >= this.perLane) { this.lanes.set(lane, starts); return; }
      starts.push(now + delay);
      this.lanes.set(lane, starts);
      picked.push({ sample, delay });
      room -= 1;
    });
    if (this.lanes.size > 500) this.lanes.clear(); // lanes of exchanges long gone
    return picked;
  }
}

/**
 * The hops of a sampled message's path, in the order it took them. `path` lists graph ids
 * (nodes and edges) from where the message started; `edgeEnds(id)` gives {source, target} of an
 * edge on the graph, null for anything else. A fanout splits into several hops from one node;
 * a node the path names but no edge of it reaches (the broker routed there and the simulator
 * has no path: "unexplained") gets a direct hop from the start.
 * Returns {start, hops: [{id, from, to, kind: 'edge' | 'direct'}]}, each hop after the hop into its `from`.
 */
export function planHops(path, edgeEnds) {
  const edges = [];
  const nodes = [];
  for (const id of path ?? []) {
    const ends = edgeEnds(id);
    if (ends) edges.push({ id, from: ends.source, to: ends.target });
    else nodes.push(id);
  }
  const start = nodes[0] ?? edges[0]?.from ?? null;
  if (start === null) return { start: null, hops: [] };
  const reached = new Set([start]);
  const hops = [];
  const used = new Set();
  let frontier = [start];
  while (frontier.length) {
    const next = [];
    for (const node of frontier) {
      for (const edge of edges) {
        if (used.has(edge.id) || edge.from !== node) continue;
        used.add(edge.id);
        hops.push({ id: edge.id, from: edge.from, to: edge.to, kind: 'edge' });
        if (!reached.has(edge.to)) { reached.add(edge.to); next.push(edge.to); }
      }
    }
    frontier = next;
  }
  for (const node of nodes) {
    if (!reached.has(node)) { reached.add(node); hops.push({ id: `direct:${start}\n${node}`, from: start, to: node, kind: 'direct' }); }
  }
  return { start, hops };
}

/**
 * When each hop starts and ends, in seconds after the marker starts: a hop leaves its node when
 * the message arrives there. `seconds(hop)` is the hop's travel time; `lead` the time before the
 * start node (publisher → exchange). Returns the hops with {begin, end}, and the marker's whole span.
 */
export function scheduleHops(hops, seconds, lead = 0) {
  const arrival = new Map();
  const timed = [];
  let span = lead;
  for (const hop of hops) {
    const begin = arrival.get(hop.from) ?? lead;
    const end = begin + Math.max(0.05, seconds(hop));
    if (!arrival.has(hop.to)) arrival.set(hop.to, end);
    timed.push({ ...hop, begin, end });
    span = Math.max(span, end);
  }
  return { hops: timed, span };
}
