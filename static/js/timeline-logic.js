// The timeline's arithmetic, with no page in sight: where a moment falls on the strip, the
// incidents (a finding from its appearing to its clearing, a source from going down to coming
// back) built from the recording's marks, the stretches that were not recorded, the play clock,
// and which recorded frames are due. Times are UNIX seconds throughout.

export const SPEEDS = [1, 5, 15, 60];

const clamp = (x, low, high) => Math.min(high, Math.max(low, x));

/** Where t falls on a window {from, to}, from 0 to 1. */
export function fractionOf(t, window) {
  const span = window.to - window.from;
  if (!(span > 0)) return 1;
  return clamp((t - window.from) / span, 0, 1);
}

/** The moment at a fraction (0..1) of a window. */
export function timeAt(fraction, window) {
  return window.from + clamp(fraction, 0, 1) * Math.max(0, window.to - window.from);
}

/** A moment kept inside the window. */
export function within(t, window) {
  return clamp(t, window.from, window.to);
}

const findingKey = (m) => `finding\n${m.vhost ?? ''}\n${m.rule ?? ''}\n${m.node ?? ''}`;
const sourceKey = (m) => `source\n${m.source ?? ''}`;

/** The bands that cover the moment t. */
export function bandsAt(bands, t) {
  return bands.filter((b) => b.from <= t && t <= b.to);
}

/** Bands to draw from the marks (in time order): each finding from appearing to clearing and
 * each source outage from going down to coming back; one still open runs to the window's end
 * (`open: true`). A clearing whose appearing is before the marks asked for starts at its `since`. */
export function incidents(marks, window) {
  const open = new Map();
  const bands = [];
  const close = (key, mark, kind) => {
    const started = open.get(key);
    open.delete(key);
    const from = started ? started.t : Number(mark.since ?? window.from);
    bands.push(band(kind, started ?? mark, within(from, window), mark.t, false));
  };
  for (const mark of marks ?? []) {
    if (mark.kind === 'finding-appeared') {
      // Appearing again while open: a new span of recording restated it; the first band ends here.
      if (open.has(findingKey(mark))) close(findingKey(mark), mark, 'finding');
      open.set(findingKey(mark), mark);
    }
    else if (mark.kind === 'finding-cleared') close(findingKey(mark), mark, 'finding');
    else if (mark.kind === 'source-down') { if (!open.has(sourceKey(mark))) open.set(sourceKey(mark), mark); }
    else if (mark.kind === 'source-up') close(sourceKey(mark), mark, 'outage');
  }
  for (const mark of open.values()) {
    const kind = mark.kind === 'source-down' ? 'outage' : 'finding';
    bands.push(band(kind, mark, mark.t, Math.max(mark.t, window.to), true));
  }
  return bands.sort((a, b) => a.from - b.from);
}

function band(kind, mark, from, to, open) {
  if (kind === 'outage') {
    return { kind, from, to, open, severity: 'critical', source: mark.source ?? '', state: mark.state ?? '',
      detail: mark.last_error || mark.detail || '' };
  }
  return { kind, from, to, open, severity: mark.severity ?? 'info', rule: mark.rule ?? '', node: mark.node ?? '',
    message: mark.message ?? '' };
}

/** The stretches of the window that no span covers: nothing was recorded then. */
export function unrecorded(spans, window) {
  const sorted = [...(spans ?? [])].sort((a, b) => a.from - b.from);
  const gaps = [];
  let cursor = window.from;
  for (const span of sorted) {
    if (span.from > cursor) gaps.push({ from: cursor, to: Math.min(span.from, window.to) });
    cursor = Math.max(cursor, span.to);
    if (cursor >= window.to) break;
  }
  if (sorted.length && cursor < window.to) gaps.push({ from: cursor, to: window.to });
  return gaps.filter((g) => g.to > g.from);
}

/** The recording's clock while playing: `start` (UNIX s) advancing `speed` times as fast as the
 * page's clock (`now()` in ms). */
export class PlayClock {
  constructor(start, speed, now = () => Date.now()) {
    this.now = now;
    this.origin = start;
    this.startedAt = now();
    this.speed = speed;
  }

  get t() { return this.origin + ((this.now() - this.startedAt) / 1000) * this.speed; }

  /** A new speed from the moment reached. */
  setSpeed(speed) {
    this.origin = this.t;
    this.startedAt = this.now();
    this.speed = speed;
  }
}

/** The frames due by `t` (their time at or before it), taken off the front of `queue`. */
export function takeDue(queue, t) {
  let n = 0;
  while (n < queue.length && queue[n].t <= t) n += 1;
  return queue.splice(0, n);
}

/** "2026-03-01 03:12:05" in the page's time zone (what a person reads off their clock). */
export function dateTime(t) {
  const d = new Date(t * 1000);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** "20260301-031205": a moment in a file name. */
export function fileStamp(t) {
  return dateTime(t).replace(/-/g, '').replace(' ', '-').replace(/:/g, '');
}

/** What Celery's tasks did in some recorded activity frames: sent (counted on queues) and
 * finished by state (counted on workers). */
export function taskCounts(frames) {
  const counts = { sent: 0, succeeded: 0, failed: 0, retried: 0 };
  for (const frame of frames ?? []) {
    for (const [id, figures] of Object.entries(frame?.nodes ?? {})) {
      const states = figures?.states ?? {};
      if (id.startsWith('queue:')) counts.sent += Number(states.sent) || 0;
      else if (id.startsWith('worker:')) {
        for (const state of ['succeeded', 'failed', 'retried']) counts[state] += Number(states[state]) || 0;
      }
    }
  }
  return counts;
}

/** A node's recorded history (GET /api/history points) as chart points [t, ready, unacked],
 * held to `end` (each point holds until the next); a point whose depth is unknown is left out,
 * never drawn as 0. Also its peak: the first moment of the most messages ready. */
export function depthSeries(points, end) {
  const series = (points ?? []).filter((p) => typeof p.messages_ready === 'number')
    .map((p) => [p.t, p.messages_ready, typeof p.messages_unacknowledged === 'number' ? p.messages_unacknowledged : undefined]);
  let peak = null;
  for (const p of series) if (peak === null || p[1] > peak[1]) peak = p;
  const last = series[series.length - 1];
  if (last && end > last[0]) series.push([end, last[1], last[2]]);
  return { series, peak: peak && { t: peak[0], ready: peak[1] } };
}
