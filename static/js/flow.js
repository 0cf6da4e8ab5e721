// Traffic you can see: the message rate along each AMQP edge, from the rates the broker gives
// on its ends, drawn as the edge's width and, when slow enough to follow by eye, as markers
// moving along it (one per message, up to a few a second). The markers are drawn on a canvas
// of their own over the graph; each frame's work is proportional to the edges that carry
// traffic, never to the size of the graph.

export const ANIMATE_UP_TO = 30; // messages a second: above this an edge is shown by its width alone
export const MARKERS_PER_EDGE = 5; // markers a second on one edge, at most (a steady stream past that)
export const MAX_MARKERS = 160;
const SPEED = 260; // model units a second
const MARKER_COLOURS = { binding: '#bae6fd', consumes: '#bbf7d0', exchange: '#ddd6fe' };

const rateOf = (rates, key) => {
  const v = rates?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/**
 * Messages a second along an edge (null when the broker's figures do not say).
 * edge: {kind, destination_type?, implicit?}; source, target: node data;
 * siblings: for an edge into a queue, the source node data of every binding into that queue
 * (this one included); for an edge out of a queue to a consumer, how many such edges it has.
 */
export function edgeFlow(edge, source, target, siblings) {
  if (edge.kind === 'binding' && target?.kind === 'queue') {
    const published = rateOf(target.rates, 'publish');
    if (published === null) return null;
    const sources = Array.isArray(siblings) && siblings.length ? siblings : [source];
    if (sources.length === 1) return published;
    // Shared between the exchanges that feed the queue, by what each routes out.
    const weights = sources.map((s) => rateOf(s?.rates, 'publish_out'));
    const total = weights.reduce((a, w) => a + (w ?? 0), 0);
    const own = rateOf(source?.rates, 'publish_out');
    if (weights.some((w) => w === null) || total <= 0 || own === null) return published / sources.length;
    return (published * own) / total;
  }
  if (edge.kind === 'binding' && target?.kind === 'exchange') {
    return rateOf(target.rates, 'publish_in');
  }
  if (edge.kind === 'consumes' && source?.kind === 'queue') {
    const delivered = rateOf(source.rates, 'deliver_get');
    if (delivered === null) return null;
    return delivered / Math.max(1, Number(siblings) || 1);
  }
  return null;
}

/** Markers due on an edge after dt seconds: returns how many to start and the fraction carried over. */
export function due(carry, rate, dt) {
  const perSecond = Math.min(Math.max(0, rate), MARKERS_PER_EDGE);
  const total = carry + perSecond * dt;
  const count = Math.floor(total);
  return { count, carry: total - count };
}

/** Seconds a marker takes along an edge of this length. */
export function travelTime(length) {
  return Math.min(2.6, Math.max(0.7, length / SPEED));
}

export function pointAlong(a, b, progress) {
  const p = Math.min(1, Math.max(0, progress));
  return { x: a.x + (b.x - a.x) * p, y: a.y + (b.y - a.y) * p };
}

/** Whether an edge with this rate is drawn with moving markers. */
export const animated = (rate) => typeof rate === 'number' && rate > 0 && rate <= ANIMATE_UP_TO;

/** The moving markers: a canvas over the graph, redrawn each animation frame while any edge flows. */
export class FlowLayer {
  constructor(graph, parent) {
    this.graph = graph;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'flow-layer';
    this.canvas.id = 'flow-layer';
    this.canvas.setAttribute('aria-hidden', 'true');
    parent.append(this.canvas);
    this.ctx = this.canvas.getContext('2d');
    this.edges = new Map(); // edge id -> {rate, carry, colour}
    this.markers = [];
    this.running = false;
    this.last = 0;
    this.still = window.matchMedia?.('(prefers-reduced-motion: reduce)');
    this.resize();
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const { clientWidth: w, clientHeight: h } = this.graph.container;
    this.canvas.width = Math.round(w * ratio);
    this.canvas.height = Math.round(h * ratio);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.ratio = ratio;
  }

  /** An edge's rate changed (null or 0: nothing moves on it). */
  setRate(edgeId, rate, kind) {
    if (!animated(rate)) { this.edges.delete(edgeId); return; }
    const entry = this.edges.get(edgeId);
    if (entry) { entry.rate = rate; return; }
    this.edges.set(edgeId, { rate, carry: Math.random(), colour: MARKER_COLOURS[kind] ?? MARKER_COLOURS.binding });
    this.start();
  }

  forget(edgeId) { this.edges.delete(edgeId); }

  clear() { this.edges.clear(); this.markers = []; this._draw(); }

  start() {
    if (this.running) return;
    this.running = true;
    this.last = performance.now();
    requestAnimationFrame((t) => this._frame(t));
  }

  _frame(now) {
    const dt = Math.min(0.25, (now - this.last) / 1000);
    this.last = now;
    if (!document.hidden && !this.still?.matches) this._spawn(dt);
    this.markers = this.markers.filter((m) => now - m.born < m.duration * 1000);
    this._draw(now);
    if (this.edges.size || this.markers.length) requestAnimationFrame((t) => this._frame(t));
    else this.running = false;
  }

  _spawn(dt) {
    const graph = this.graph;
    for (const [id, entry] of this.edges) {
      const next = due(entry.carry, entry.rate, dt);
      entry.carry = next.carry;
      if (!next.count || this.markers.length >= MAX_MARKERS) continue;
      const edge = graph.element(id);
      if (!edge || !graph.isShown(edge)) { this.edges.delete(id); continue; }
      for (let i = 0; i < next.count && this.markers.length < MAX_MARKERS; i++) {
        const from = edge.sourceEndpoint();
        const to = edge.targetEndpoint();
        const duration = travelTime(Math.hypot(to.x - from.x, to.y - from.y));
        this.markers.push({ id, born: performance.now() - (i / next.count) * 1000 * dt, duration, colour: entry.colour });
      }
    }
  }

  _draw(now = performance.now()) {
    const { ctx, canvas, ratio } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!this.markers.length) return;
    const cy = this.graph.cy;
    const zoom = cy.zoom();
    const pan = cy.pan();
    const radius = Math.min(5.5, Math.max(2.5, 4 * zoom));
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = '#0f172a';
    for (const m of this.markers) {
      const edge = this.graph.element(m.id);
      if (!edge || !this.graph.isShown(edge)) continue;
      const p = pointAlong(edge.sourceEndpoint(), edge.targetEndpoint(), (now - m.born) / (m.duration * 1000));
      ctx.globalAlpha = edge.hasClass('dimmed') ? 0.3 : 1; // off the highlighted route: in the background too
      ctx.beginPath();
      ctx.arc(p.x * zoom + pan.x, p.y * zoom + pan.y, radius, 0, Math.PI * 2);
      ctx.fillStyle = m.colour;
      ctx.fill();
      ctx.stroke();
    }
  }
}
