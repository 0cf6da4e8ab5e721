// Traced messages on the graph: a canvas of its own over the graph (above the rate markers)
// drawing each sampled message of a firehose trace as a diamond moving along the path it
// really took -- from its publisher (a lead-in to the exchange when the publisher is not on
// the graph), through each exchange and binding, to each queue, and from a queue to the
// consumer that got it -- with the exact count of traced messages on each edge as a badge.
// Diamonds, not dots: the rate markers (flow.js) are dots, Celery's task markers blue discs.
// Each frame's work is proportional to the markers and badges, never to the graph (where the
// nodes are, which badges keep clear of, is read at most once a second, or when they move).
import { pointAlong, travelTime } from './flow.js';
import { isolated, visibleName } from './format.js';
import { BoxGrid, STUB_SECONDS, placeBadges, planHops, scheduleHops } from './trace-logic.js';

export const TRACE_COLOURS = {
  marker: '#f472b6', // a traced message
  disagreed: '#ef4444', // routed otherwise than the simulator says
  ring: '#fbbf24', // redelivered
  badge: '#831843', badgeText: '#fdf2f8', badgeBorder: '#f472b6',
  stub: '#f472b6',
};
const STUB_LENGTH = 95; // model units: a publisher's lead-in to its exchange
const FADE_SECONDS = 0.6; // an unroutable message fades where it was dropped
const LEFT_ROOM = 175; // pixels the fitted graph leaves free on its left for the publishers' captions
const CAPTION_WIDTH = LEFT_ROOM - 24;
const FONT = '600 10.5px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const LABEL_FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const NODES_STALE_MS = 1000; // the nodes' boxes (what badges must not cover) are read again at most this often

export class TraceLayer {
  constructor(graph, parent) {
    this.graph = graph;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'trace-layer';
    this.canvas.id = 'trace-layer';
    this.canvas.setAttribute('aria-hidden', 'true');
    parent.append(this.canvas);
    this.ctx = this.canvas.getContext('2d');
    this.markers = [];
    this.badges = []; // [edge id, text]
    this.stubs = new Map(); // exchange id -> {label, count}
    this.active = false; // a trace is on: badges follow the view even with no marker moving
    this.running = false;
    this.seq = 0;
    this.still = window.matchMedia?.('(prefers-reduced-motion: reduce)');
    this.resize();
    new ResizeObserver(() => { this.resize(); this.wake(); }).observe(graph.container);
    graph.cy.on('viewport position', () => this.wake());
    this.nodeBoxes = null; // {grid, at}: where the shown nodes and their labels are, in model coordinates
    graph.cy.on('add remove position', () => { this.nodeBoxes = null; });
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

  /** Whether a trace is running (its badges and lead-ins stay drawn). */
  setActive(active) {
    this.active = active;
    this._makeRoom();
    this.wake();
  }

  setBadges(badges) { this.badges = badges; this.wake(); }

  /** exchange id -> {label, more, node}: who publishes to it, for the lead-in's caption. */
  setStubs(stubs) {
    this.stubs = stubs;
    this._makeRoom();
    this.wake();
  }

  clear() { this.markers = []; this.badges = []; this.stubs = new Map(); this._makeRoom(); this.wake(); }

  /** While lead-ins are drawn, the fitted graph leaves room on its left for their captions. */
  _makeRoom() {
    const leadIns = this.active && [...this.stubs.values()].some((stub) => !stub.node);
    this.graph.setLeftRoom(leadIns ? LEFT_ROOM : 0);
  }

  /** Start a marker for a sampled message after `delay` seconds; `publisher` is its publisher's
   * node on the graph (null: drawn as a lead-in to the exchange). Returns whether it was started. */
  launch(sample, { delay = 0, publisher = null } = {}) {
    if (document.hidden || this.still?.matches) return false;
    const graph = this.graph;
    const plan = planHops(sample.path, (id) => {
      const e = graph.element(id);
      return e && e.isEdge() ? { source: e.source().id(), target: e.target().id() } : null;
    });
    if (plan.start === null || !graph.element(plan.start)) return false;
    const leadIn = sample.kind === 'publish' && graph.element(plan.start).data('kind') === 'exchange';
    const hops = plan.hops.filter((hop) => hop.kind === 'direct' || this._shownEdge(hop.id));
    const { hops: timed, span } = scheduleHops(hops, (hop) => this._seconds(hop), leadIn ? STUB_SECONDS : 0);
    if (leadIn) timed.unshift({ id: `stub:${plan.start}`, kind: 'stub', from: publisher, to: plan.start, begin: 0, end: STUB_SECONDS });
    if (!timed.length) return false;
    this.seq += 1;
    const dropped = sample.kind === 'publish' && sample.unroutable;
    this.markers.push({
      id: this.seq, born: performance.now() + delay * 1000, hops: timed, span: span + (dropped ? FADE_SECONDS : 0),
      colour: sample.verdict === 'disagreed' ? TRACE_COLOURS.disagreed : TRACE_COLOURS.marker,
      ring: Boolean(sample.redelivered), dropped, end: plan.start,
    });
    this.wake();
    return true;
  }

  get alive() { return this.markers.length; }

  /** Where each marker is drawn, in the canvas's CSS pixels (at the last frame drawn): for measuring. */
  positions(now = this.drawnAt ?? performance.now()) {
    const found = [];
    for (const m of this.markers) {
      const t = (now - m.born) / 1000;
      for (const hop of m.hops) {
        if (t < hop.begin || t > hop.end) continue;
        const ends = this._ends(hop);
        if (!ends) continue;
        const progress = (t - hop.begin) / (hop.end - hop.begin);
        const p = this._rendered(pointAlong(ends.from, ends.to, progress));
        found.push({ marker: m.id, hop: hop.id, kind: hop.kind, progress, x: p.x, y: p.y,
          from: this._rendered(ends.from), to: this._rendered(ends.to) });
      }
    }
    return found;
  }

  wake() {
    if (this.running) return;
    this.running = true;
    requestAnimationFrame((t) => this._frame(t));
  }

  _frame(now) {
    this.markers = this.markers.filter((m) => (now - m.born) / 1000 < m.span);
    this._draw(now);
    if (this.markers.length || this.active) requestAnimationFrame((t) => this._frame(t));
    else this.running = false;
  }

  _shownEdge(id) {
    const edge = this.graph.element(id);
    return Boolean(edge && this.graph.isShown(edge));
  }

  _seconds(hop) {
    const ends = this._ends(hop);
    return ends ? travelTime(Math.hypot(ends.to.x - ends.from.x, ends.to.y - ends.from.y)) : 0.7;
  }

  /** A hop's two ends in model coordinates (null when its elements are gone). */
  _ends(hop) {
    const graph = this.graph;
    if (hop.kind === 'edge') {
      const edge = graph.element(hop.id);
      return edge ? { from: edge.sourceEndpoint(), to: edge.targetEndpoint() } : null;
    }
    if (hop.kind === 'stub') return this._stub(hop.to, hop.from);
    const a = graph.element(hop.from);
    const b = graph.element(hop.to);
    return a && b ? { from: a.position(), to: b.position() } : null;
  }

  /** A publisher's way into its exchange: from its node when it is on the graph, else a lead-in from the left. */
  _stub(exchangeId, publisherId) {
    const exchange = this.graph.element(exchangeId);
    if (!exchange || !this.graph.isShown(exchange)) return null;
    const p = exchange.position();
    const publisher = publisherId ? this.graph.element(publisherId) : null;
    if (publisher && this.graph.isShown(publisher)) return { from: publisher.position(), to: p };
    const to = { x: p.x - exchange.width() / 2, y: p.y };
    return { from: { x: to.x - STUB_LENGTH, y: to.y }, to };
  }

  _rendered(p) {
    const zoom = this.graph.cy.zoom();
    const pan = this.graph.cy.pan();
    return { x: p.x * zoom + pan.x, y: p.y * zoom + pan.y };
  }

  _draw(now) {
    this.drawnAt = now;
    const { ctx, canvas, ratio } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const zoom = this.graph.cy.zoom();
    if (this.active) this._drawStubs(zoom);
    this._drawBadges(zoom);
    this._drawMarkers(now, zoom);
  }

  _drawStubs(zoom) {
    const { ctx } = this;
    for (const [exchangeId, stub] of this.stubs) {
      const ends = this._stub(exchangeId, stub.node);
      if (!ends || stub.node) continue; // a publisher on the graph needs no lead-in
      const a = this._rendered(ends.from);
      const b = this._rendered(ends.to);
      ctx.globalAlpha = 0.85;
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = TRACE_COLOURS.stub;
      ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
      ctx.setLineDash([]);
      ctx.beginPath(); ctx.arc(a.x, a.y, 3, 0, Math.PI * 2); ctx.fillStyle = TRACE_COLOURS.stub; ctx.fill();
      ctx.globalAlpha = 1;
      if (zoom >= 0.3 && stub.label) this._caption(stub, a);
    }
  }

  /** Who publishes: the busiest publisher, and how many more, right-aligned before the lead-in. */
  _caption(stub, at) {
    const { ctx } = this;
    ctx.font = LABEL_FONT;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillStyle = '#fbcfe8';
    const lines = [fitted(ctx, visibleName(stub.label), CAPTION_WIDTH)];
    if (stub.more) lines.push(`+${stub.more} more`);
    lines.forEach((line, i) => {
      ctx.fillStyle = i ? '#f9a8d4' : '#fbcfe8';
      ctx.fillText(isolated(line), at.x - 7, at.y + (i - (lines.length - 1) / 2) * 13);
    });
  }

  _drawBadges(zoom) {
    if (zoom < 0.3) return; // zoomed far out the counts would cover the graph; the Trace tab has them
    const { ctx } = this;
    ctx.font = FONT;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    const items = [];
    for (const [id, text] of this.badges) {
      const edge = this.graph.element(id);
      if (!edge || !this.graph.isShown(edge)) continue;
      items.push({ id, text, a: this._rendered(edge.sourceEndpoint()), b: this._rendered(edge.targetEndpoint()),
        w: ctx.measureText(text).width + 10, h: 16 });
    }
    if (!items.length) return;
    const spots = placeBadges(items, { blocked: this._coversNode() });
    for (const item of items) {
      const p = spots.get(item.id);
      if (!p) continue; // no spot that covers no name: zooming in makes room
      ctx.fillStyle = TRACE_COLOURS.badge;
      ctx.strokeStyle = TRACE_COLOURS.badgeBorder;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.roundRect(p.x - item.w / 2, p.y - item.h / 2, item.w, item.h, 8);
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = TRACE_COLOURS.badgeText;
      ctx.fillText(item.text, p.x, p.y + 0.5);
    }
  }

  /** A test for a badge's box (pixels on the canvas): does it cover a node or its label? */
  _coversNode() {
    const now = performance.now();
    if (!this.nodeBoxes || now - this.nodeBoxes.at > NODES_STALE_MS) {
      const boxes = this.graph.visibleNodes().map((n) => n.boundingBox({ includeLabels: true }));
      this.nodeBoxes = { grid: new BoxGrid(boxes), at: now };
    }
    const { grid } = this.nodeBoxes;
    const zoom = this.graph.cy.zoom();
    const pan = this.graph.cy.pan();
    return (box) => grid.covers({ x1: (box.x1 - pan.x) / zoom, y1: (box.y1 - pan.y) / zoom,
      x2: (box.x2 - pan.x) / zoom, y2: (box.y2 - pan.y) / zoom });
  }

  _drawMarkers(now, zoom) {
    const { ctx } = this;
    const size = Math.min(7.5, Math.max(4.5, 6 * zoom));
    for (const m of this.markers) {
      const t = (now - m.born) / 1000;
      if (t < 0) continue;
      let drawn = false;
      for (const hop of m.hops) {
        if (t < hop.begin || t > hop.end) continue;
        const ends = this._ends(hop);
        if (!ends) continue;
        if (hop.kind !== 'edge') this._hopLine(ends, hop.kind);
        const edge = hop.kind === 'edge' ? this.graph.element(hop.id) : null;
        ctx.globalAlpha = edge?.hasClass('dimmed') ? 0.35 : 1;
        this._diamond(this._rendered(pointAlong(ends.from, ends.to, (t - hop.begin) / (hop.end - hop.begin))), size, m);
        drawn = true;
      }
      if (!drawn && m.dropped && t >= m.span - FADE_SECONDS) this._dropped(m, t, size);
    }
    ctx.globalAlpha = 1;
  }

  _hopLine(ends, kind) {
    if (kind !== 'direct') return; // the lead-in is drawn with the stubs
    const { ctx } = this;
    const a = this._rendered(ends.from);
    const b = this._rendered(ends.to);
    ctx.setLineDash([3, 4]);
    ctx.strokeStyle = TRACE_COLOURS.marker;
    ctx.lineWidth = 1.2;
    ctx.globalAlpha = 0.7;
    ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
    ctx.setLineDash([]);
  }

  _diamond(p, size, marker) {
    const { ctx } = this;
    ctx.beginPath();
    ctx.moveTo(p.x, p.y - size); ctx.lineTo(p.x + size, p.y); ctx.lineTo(p.x, p.y + size); ctx.lineTo(p.x - size, p.y);
    ctx.closePath();
    ctx.fillStyle = marker.colour;
    ctx.fill();
    ctx.lineWidth = marker.ring ? 2.5 : 1.3;
    ctx.strokeStyle = marker.ring ? TRACE_COLOURS.ring : '#fdf2f8';
    ctx.stroke();
  }

  /** An unroutable message: a cross where it was dropped, fading. */
  _dropped(marker, t, size) {
    const last = marker.hops[marker.hops.length - 1];
    const ends = this._ends(last);
    if (!ends) return;
    const p = this._rendered(ends.to);
    const { ctx } = this;
    ctx.globalAlpha = Math.max(0, 1 - (t - (marker.span - FADE_SECONDS)) / FADE_SECONDS);
    ctx.strokeStyle = marker.colour;
    ctx.lineWidth = 2.2;
    ctx.beginPath();
    ctx.moveTo(p.x - size, p.y - size); ctx.lineTo(p.x + size, p.y + size);
    ctx.moveTo(p.x + size, p.y - size); ctx.lineTo(p.x - size, p.y + size);
    ctx.stroke();
    ctx.globalAlpha = 1;
  }
}

/** Text cut with an ellipsis to fit a width on the canvas. */
function fitted(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  const chars = Array.from(text);
  while (chars.length > 1 && ctx.measureText(`${chars.join('')}…`).width > width) chars.pop();
  return `${chars.join('')}…`;
}
