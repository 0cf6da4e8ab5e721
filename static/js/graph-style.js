// What the canvas draws: Cytoscape styles, the text of every label at each level of detail,
// the queue depth fill, the findings badges and the width of an edge by its message rate.
// Every label is canvas text (never parsed as HTML); broker strings go through visibleName.
import { FONT, LINE, SIZE, approxWidth, queueHeight } from './layout.js';
import { count, displayName, isolated, rate, shorten, visibleName } from './format.js';
import { vocabulary } from './vocabulary.js';

export const FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif';
export const MIN_TEXT_PX = 11; // no text is drawn smaller than this on screen

/** Levels of detail, by the font size labels are drawn at: all of each label at the base
 * size, then shorter labels at larger sizes as the zoom shrinks, so that what is drawn is
 * never under MIN_TEXT_PX on screen. Below the last level, shapes only (hover tells). */
export const LOD = [
  { id: 'full', font: FONT.node },
  { id: 't15', font: 15 },
  { id: 't18', font: 18 },
  { id: 't22', font: 22 },
  { id: 't27', font: 27 },
];
export const LOD_IDS = LOD.map((level) => level.id);

/** The level of detail for a zoom: the most detailed one whose text is still MIN_TEXT_PX on screen
 * ('none' when even the largest would be smaller). */
export function lodFor(zoom) {
  return LOD.find((level) => level.font * zoom >= MIN_TEXT_PX)?.id ?? 'none';
}

export const lodFont = (id) => LOD.find((level) => level.id === id)?.font ?? LOD[LOD.length - 1].font;

// Exchanges are drawn as shapes with their name inside: fill by type (dark enough for white
// text), and a shape per type so that colour is not the only clue.
const TYPE_STYLES = {
  direct: { fill: '#1d4ed8', border: '#60a5fa', shape: 'round-hexagon' },
  fanout: { fill: '#7e22ce', border: '#c084fc', shape: 'ellipse' },
  topic: { fill: '#b45309', border: '#fbbf24', shape: 'rhomboid' },
  headers: { fill: '#0f766e', border: '#2dd4bf', shape: 'round-octagon' },
};
export const EXCHANGE_LOOK = { ...TYPE_STYLES, other: { fill: '#475569', border: '#94a3b8', shape: 'barrel' },
  default: { fill: '#334155', border: '#94a3b8', shape: 'round-rectangle' } };
export const SEVERITY_COLOURS = { critical: '#ef4444', warning: '#f59e0b', info: '#60a5fa' };
const DEPTH_SCALE = Math.log10(1 + 10000); // a queue with 10k ready messages reads as "full"
export const DEPTH_COLOURS = { low: '#7dd3fc', half: '#fbbf24', full: '#f87171' };

// ---- labels ------------------------------------------------------------------------------------

// A figure the broker did not give is unknown: '?', never a made-up 0.
const known = (n) => (n === null || n === undefined ? '?' : count(n));

/** A rate in few characters: 0.4, 12, 1.2k (per second is said once, after the pair). */
export function shortRate(r) {
  const v = Number(r) || 0;
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k`;
  if (v >= 10) return String(Math.round(v));
  return String(Math.round(v * 10) / 10);
}

/** A broker string on the canvas: invisible characters shown, and shortened. One that shares its
 * line with other text is also isolated from it (canvas text is never parsed as HTML, but it is
 * laid out bidirectionally); on a line of its own a name is a paragraph of its own already. */
function label(text, max, embedded = false) {
  const shown = shorten(visibleName(text), max);
  return embedded ? isolated(shown) : shown;
}

/** A name on a line of its own, shortened until it fits `width` at this font size. */
function fitted(text, font, width, measure, max = 60) {
  let limit = max;
  let shown = label(text, limit);
  while (limit > 4 && measure(shown, font) > width) {
    limit -= 1;
    shown = label(text, limit);
  }
  return shown;
}

/** Lines a queue's full label has: name, [replication], figures. */
export const queueLines = (d) => (d.type && d.type !== 'classic' ? 3 : 2);

/** The queue's figures line: as much as fits its box (rates go first, then the word "unacked"). */
function queueFigures(d, measure) {
  const ready = `${known(d.messages_ready)} ready`;
  const unknownUnacked = d.messages_unacknowledged === null || d.messages_unacknowledged === undefined;
  const unacked = d.messages_unacknowledged || unknownUnacked ? ` · ${known(d.messages_unacknowledged)} unacked` : '';
  const flows = d.rates && (d.rates.publish || d.rates.deliver_get)
    ? `   ↓${shortRate(d.rates.publish)} ↑${shortRate(d.rates.deliver_get)}/s` : '';
  const room = SIZE.queue.w - 16;
  const candidates = [ready + unacked + flows, ready + unacked, ready];
  return candidates.find((line) => measure(line, FONT.node) <= room) ?? ready;
}

function queueLabel(d, measure) {
  const replicas = d.members?.length ? ` · ${d.online?.length ?? 0}/${d.members.length} replicas up` : '';
  const type = queueLines(d) === 3 ? `${d.type}${replicas}\n` : '';
  return `${fitted(d.name, FONT.node, SIZE.queue.w - 16, measure, 34)}\n${type}${queueFigures(d, measure)}`;
}

function workerLabel(d) {
  const state = d.online ? 'online' : 'offline';
  const failed = d.failed ? ` · ${count(d.failed)} failed` : '';
  const retried = d.retried ? ` · ${count(d.retried)} retried` : '';
  return `${label(d.name, 28)}\n${state} · ${d.active ?? 0} active\n${count(d.processed ?? 0)} done${failed}${retried}`;
}

function headersSummary(args) {
  const entries = Object.entries(args ?? {});
  const match = args?.['x-match'] ?? 'all';
  const rest = entries.filter(([k]) => k !== 'x-match');
  const shown = rest.slice(0, 2).map(([k, v]) => `${label(k, 10, true)}=${label(typeof v === 'object' ? JSON.stringify(v) : v, 8, true)}`);
  return `${match}: ${shown.join(', ')}${rest.length > 2 ? ` +${rest.length - 2}` : ''}`;
}

/** The binding's key as the canvas shows it: nothing for a fanout, and nothing when the key is
 * the queue's own name (Celery's and the default exchange's way; the tooltip still says it). */
function bindingLabel(d, sourceType, targetName) {
  if (sourceType === 'fanout' || d.implicit) return '';
  if (sourceType === 'headers') return headersSummary(d.arguments);
  if (d.destination_type !== 'exchange' && d.routing_key === targetName) return '';
  return d.routing_key === '' ? '""' : label(d.routing_key, 20);
}

/** "20 queues · 1,234 ready": what a folded name group holds (kind words from the server). */
export function groupSummary(d, { depth = true } = {}) {
  const words = vocabulary.node_kinds?.[d.member_kind] ?? { label: d.member_kind, plural: `${d.member_kind}s` };
  const members = `${count(d.count)} ${d.count === 1 ? words.label : words.plural}`;
  if (!depth || d.member_kind !== 'queue') return members;
  const unknown = d.unknown_depths ? ` (${count(d.unknown_depths)} unknown)` : '';
  return `${members} · ${known(d.messages_ready)} ready${unknown}`;
}

/** The full text Cytoscape draws for an element (canvas text: never parsed as HTML). */
export function labelFor(d, context = {}) {
  if (d.folded > 1) return `×${count(d.folded)}`; // one drawn edge for many between a group and a neighbour
  switch (d.kind) {
    case 'group': return `${label(d.label, 30)}\n${groupSummary(d)}`;
    case 'exchange': {
      const name = label(displayName(d), 22);
      if (d.missing) return `${name}\nmissing`;
      if (d.default) return `${name}\nby queue name`;
      const flow = d.rates?.publish_in ? ` · ${rate(d.rates.publish_in)}` : '';
      return `${name}\n${label(d.type, 14)}${d.internal ? ' · internal' : ''}${flow}`;
    }
    case 'queue': return queueLabel(d, context.measure ?? approxWidth);
    case 'worker': return workerLabel(d);
    case 'connection': return label(d.label ?? d.name, 30);
    case 'consumer': return label(d.label ?? d.name, 22);
    case 'binding': return bindingLabel(d, context.sourceType, context.targetName);
    case 'dead-letter': return d.routing_key ? `dead-letter: ${label(d.routing_key, 14, true)}` : 'dead-letter';
    case 'alternate': return 'alternate';
    default: return '';
  }
}

/** An exchange's width: room for its name and its type line (with a rate) inside its shape. */
export function exchangeWidth(d, measure) {
  const [name, second] = labelFor(d).split('\n');
  const widest = Math.max(measure(name, FONT.node, 600), measure(`${second.split(' · ')[0]} · 9999/s`, FONT.node));
  return Math.round(Math.min(SIZE.exchange.maxW, Math.max(SIZE.exchange.minW, widest + SIZE.exchange.pad)));
}

/** How many lines of this font fit in a box of this height. */
const linesIn = (height, font) => Math.max(1, Math.floor((height - 2) / (font * LINE)));
const charsIn = (width, font) => Math.max(4, Math.floor((width - 14) / (font * 0.56)));
const WHOLE = 60; // one-line labels are cut to their box by Cytoscape's ellipsis

/** A node's label at a smaller level of detail: what fits its box at that font size.
 * box: {w, h}; context.connection: the consumer's connection label when it is its only consumer. */
export function shortLabel(d, font, box, context = {}) {
  const multiline = font <= LOD[1].font; // larger sizes: one line, cut with an ellipsis
  const lines = multiline ? linesIn(box.h, font) : 1;
  const chars = charsIn(box.w, font);
  switch (d.kind) {
    case 'queue': {
      if (lines >= 2) {
        const figures = `${known(d.messages_ready)} ready`;
        const flows = d.rates && (d.rates.publish || d.rates.deliver_get) ? ` ↓${shortRate(d.rates.publish)} ↑${shortRate(d.rates.deliver_get)}` : '';
        const measure = context.measure ?? approxWidth;
        const name = fitted(d.name, font, box.w - 14, measure, chars + 4);
        return `${name}\n${measure(figures + flows, font) <= box.w - 14 ? figures + flows : figures}`;
      }
      const figure = ` · ${known(d.messages_ready)}`;
      return `${label(d.name, Math.max(4, chars - figure.length))}${figure}`;
    }
    case 'exchange': {
      const name = label(displayName(d), multiline ? chars : WHOLE);
      return lines >= 2 ? `${name}\n${d.missing ? 'missing' : d.default ? 'by queue name' : label(d.type, chars)}` : name;
    }
    case 'worker': {
      const name = label(d.name, multiline ? chars : WHOLE);
      const state = d.online ? 'online' : 'offline';
      if (lines >= 2) return `${name}\n${state} · ${d.active ?? 0} active`;
      return d.online ? name : `${label(d.name, Math.max(4, chars - 10))} · offline`;
    }
    // Past the size where connection labels fit over their boxes, a connection's only consumer
    // shows the connection's name instead of its tag.
    case 'consumer': return label((multiline ? null : context.connection) ?? d.label ?? d.name, multiline ? chars : WHOLE);
    case 'connection': return multiline ? label(d.label ?? d.name, chars) : '';
    case 'group': {
      const name = label(d.label, multiline ? chars : WHOLE);
      return lines >= 2 ? `${name}\n${groupSummary(d, { depth: chars > 24 })}` : name;
    }
    default: return '';
  }
}

const DEPTH_STEPS = { half: 50, full: 80 }; // fill percentages where the colour turns amber, then red

/** Ready counts from which the fill turns amber, then red (for the legend). */
export function depthThresholds() {
  const at = (pct) => Math.ceil(10 ** (((pct - 0.5) / 100) * DEPTH_SCALE) - 1); // the fill rounds to whole percents
  return { half: at(DEPTH_STEPS.half), full: at(DEPTH_STEPS.full) };
}

/** The ready-depth fill of a queue box (log scale: 10k ready reads as full). */
export function depthFill(d) {
  const ready = d.messages_ready ?? 0; // unknown depth: drawn empty, and the label says '?'
  const pct = Math.min(100, Math.round((Math.log10(1 + ready) / DEPTH_SCALE) * 100));
  const colour = pct < DEPTH_STEPS.half ? DEPTH_COLOURS.low : pct < DEPTH_STEPS.full ? DEPTH_COLOURS.half : DEPTH_COLOURS.full;
  return { fillStops: `0 ${pct} ${pct} 100`, fillColour: `${colour} ${colour} #e2e8f0 #e2e8f0` };
}

/** Edge width for a message rate (log scale), or the kind's base width when unknown. */
export function flowWidth(flow, base = 1.6) {
  const r = Number(flow) || 0;
  return r > 0 ? Math.min(9, base + 1.8 * Math.log10(1 + r)) : base;
}

// ---- badges: a finding's severity as an icon on the node -----------------------------------------

const BADGE_SVG = {
  critical: '<circle cx="12" cy="12" r="10.5" fill="#ef4444" stroke="#0f172a" stroke-width="2"/>'
    + '<rect x="10.4" y="5.5" width="3.2" height="8.5" rx="1.2" fill="#fff"/><circle cx="12" cy="17.3" r="1.8" fill="#fff"/>',
  warning: '<path d="M12 1.8 L23 21.5 H1 Z" fill="#f59e0b" stroke="#0f172a" stroke-width="1.8" stroke-linejoin="round"/>'
    + '<rect x="10.6" y="8" width="2.8" height="7.3" rx="1" fill="#111827"/><circle cx="12" cy="18.2" r="1.6" fill="#111827"/>',
  info: '<circle cx="12" cy="12" r="10.5" fill="#3b82f6" stroke="#0f172a" stroke-width="2"/>'
    + '<circle cx="12" cy="6.8" r="1.8" fill="#fff"/><rect x="10.5" y="9.6" width="3" height="8.6" rx="1.1" fill="#fff"/>',
};

/** The badge image for a severity, as a data: URI (the CSP allows images from data:). */
export function badgeImage(severity) {
  const body = BADGE_SVG[severity] ?? BADGE_SVG.info;
  return `data:image/svg+xml;utf8,${encodeURIComponent(`<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">${body}</svg>`)}`;
}
export const BADGE_SIZE = 24;

// ---- the stylesheet -------------------------------------------------------------------------------

const text = { 'font-family': FONT_FAMILY, 'line-height': LINE, 'min-zoomed-font-size': MIN_TEXT_PX };
const onCanvas = { 'text-background-color': '#0f172a', 'text-background-opacity': 0.75, 'text-background-padding': 2, 'text-background-shape': 'roundrectangle' };

function lodStyles() {
  return [
    ...LOD.slice(1).map((level, i) => ({ selector: `node.lod-${level.id}`, style: {
      'label': 'data(short)', 'font-size': level.font, 'text-wrap': i ? 'ellipsis' : 'wrap',
    } })),
    { selector: '[kind = "exchange"][boxW]', style: { 'text-max-width': (ele) => ele.data('boxW') - 16 } },
    { selector: 'node.lod-none', style: { 'label': '' } },
    // Edge labels at the first smaller size too (they are placed for it); past that, none at all
    // (text-opacity, so that a feature's own edge label cannot bring one back).
    { selector: `edge.lod-${LOD[1].id}`, style: { 'font-size': LOD[1].font } },
    ...[...LOD.slice(2).map((level) => level.id), 'none'].map((id) => ({ selector: `edge.lod-${id}`, style: { 'target-label': '', 'label': '', 'text-opacity': 0 } })),
  ];
}

function badgeStyles() {
  const common = {
    'background-width': BADGE_SIZE, 'background-height': BADGE_SIZE,
    'background-position-x': '100%', 'background-position-y': '0%',
    'background-offset-x': BADGE_SIZE / 2, 'background-offset-y': -BADGE_SIZE / 2,
    'background-clip': 'none', 'background-image-containment': 'over', 'bounds-expansion': BADGE_SIZE / 2 + 2,
    'background-image-smoothing': 'yes',
  };
  return Object.keys(SEVERITY_COLOURS).map((severity) => ({
    selector: `node.badge-${severity}`,
    style: { ...common, 'background-image': badgeImage(severity), 'border-color': SEVERITY_COLOURS[severity], 'border-width': severity === 'info' ? 2.5 : 3.5 },
  }));
}

export const STYLE = [
  { selector: 'node', style: {
    ...text, 'label': 'data(display)', 'color': '#e2e8f0', 'font-size': FONT.node, 'text-wrap': 'wrap', 'text-outline-width': 0,
  } },
  { selector: 'node[kind = "exchange"]', style: {
    'width': 'data(boxW)', 'height': SIZE.exchange.h, 'shape': EXCHANGE_LOOK.other.shape, 'background-color': EXCHANGE_LOOK.other.fill,
    'border-width': 2, 'border-color': EXCHANGE_LOOK.other.border, 'text-valign': 'center', 'text-halign': 'center',
    'text-max-width': SIZE.exchange.maxW - 16, 'color': '#ffffff', 'font-weight': 600,
  } },
  ...Object.entries(TYPE_STYLES).map(([type, look]) => ({
    selector: `node[kind = "exchange"][type = "${type}"]`,
    style: { 'background-color': look.fill, 'border-color': look.border, 'shape': look.shape },
  })),
  { selector: 'node[kind = "exchange"][?internal]', style: { 'border-style': 'double', 'border-width': 5, 'border-color': '#e2e8f0' } },
  { selector: 'node[kind = "exchange"][?default]', style: {
    'background-color': EXCHANGE_LOOK.default.fill, 'border-color': EXCHANGE_LOOK.default.border, 'shape': EXCHANGE_LOOK.default.shape,
  } },
  { selector: 'node[kind = "exchange"][?missing]', style: {
    'background-opacity': 0, 'border-style': 'dashed', 'border-color': '#ef4444', 'border-width': 2, 'color': '#fca5a5', 'shape': 'round-rectangle',
  } },
  { selector: 'node[kind = "queue"]', style: {
    'shape': 'round-rectangle', 'width': SIZE.queue.w, 'height': (ele) => queueHeight(queueLines(ele.data())),
    'text-valign': 'center', 'text-halign': 'center', 'text-max-width': SIZE.queue.w - 12, 'color': '#0f172a', 'font-weight': 500,
    'background-color': '#e2e8f0', 'border-width': 1.5, 'border-color': '#64748b',
    'background-fill': 'linear-gradient', 'background-gradient-direction': 'to-right',
    'background-gradient-stop-colors': (ele) => ele.data('fillColour') ?? `${DEPTH_COLOURS.low} ${DEPTH_COLOURS.low} #e2e8f0 #e2e8f0`,
    'background-gradient-stop-positions': (ele) => ele.data('fillStops') ?? '0 0 0 100',
  } },
  { selector: 'node[kind = "queue"][consumers = 0][messages_ready > 0]', style: { 'border-color': '#ef4444', 'border-width': 3, 'border-style': 'dashed' } },
  // A folded name group: a stack of its members' shape, filled by its total depth.
  { selector: 'node[kind = "group"]', style: {
    'shape': 'round-rectangle', 'width': SIZE.queue.w, 'height': queueHeight(2) + 8, 'text-valign': 'center', 'text-halign': 'center',
    'text-max-width': SIZE.queue.w - 16, 'color': '#0f172a', 'font-weight': 600, 'background-color': '#e2e8f0',
    'border-width': 5, 'border-style': 'double', 'border-color': '#64748b',
    'background-fill': 'linear-gradient', 'background-gradient-direction': 'to-right',
    'background-gradient-stop-colors': (ele) => ele.data('fillColour') ?? `${DEPTH_COLOURS.low} ${DEPTH_COLOURS.low} #e2e8f0 #e2e8f0`,
    'background-gradient-stop-positions': (ele) => ele.data('fillStops') ?? '0 0 0 100',
  } },
  { selector: 'node[kind = "group"][member_kind = "exchange"]', style: {
    'background-fill': 'solid', 'background-color': EXCHANGE_LOOK.other.fill, 'color': '#ffffff', 'border-color': EXCHANGE_LOOK.other.border,
  } },
  { selector: 'node[kind = "connection"]', style: {
    ...onCanvas, 'shape': 'round-rectangle', 'background-color': '#1e293b', 'background-opacity': 0.75, 'border-color': '#334155',
    'border-width': 1, 'text-valign': 'top', 'text-halign': 'center', 'color': '#94a3b8', 'text-max-width': SIZE.consumer.w + 16,
    'padding': SIZE.connection.pad, 'text-margin-y': -3, 'text-wrap': 'ellipsis',
  } },
  { selector: 'node[kind = "consumer"]', style: {
    'shape': 'round-rectangle', 'width': SIZE.consumer.w, 'height': SIZE.consumer.h, 'background-color': '#334155', 'border-width': 1,
    'border-color': '#64748b', 'text-valign': 'center', 'text-halign': 'center', 'text-max-width': SIZE.consumer.w - 10,
  } },
  { selector: 'node[kind = "consumer"][!active]', style: { 'border-style': 'dashed', 'color': '#94a3b8' } },
  { selector: 'node[kind = "worker"]', style: {
    'shape': 'round-rectangle', 'width': SIZE.worker.w, 'height': SIZE.worker.h, 'background-color': '#14532d', 'border-width': 2,
    'border-color': '#22c55e', 'color': '#dcfce7', 'text-valign': 'center', 'text-halign': 'center', 'text-max-width': SIZE.worker.w - 12,
  } },
  { selector: 'node[kind = "worker"][!online]', style: {
    'background-color': '#1f2937', 'border-color': '#64748b', 'border-style': 'dashed', 'color': '#94a3b8',
  } },
  { selector: 'edge', style: {
    ...text, ...onCanvas, 'width': (ele) => flowWidth(ele.data('flow')), 'line-color': '#64748b', 'target-arrow-color': '#64748b',
    'target-arrow-shape': 'triangle', 'arrow-scale': 0.9, 'curve-style': 'bezier', 'label': '', 'target-label': 'data(display)',
    'target-text-offset': (ele) => ele.data('labelOffset') ?? 60, 'font-size': FONT.edge, 'color': '#e2e8f0', 'text-rotation': 'none',
  } },
  { selector: 'edge[kind = "binding"][destination_type = "exchange"]', style: { 'line-color': '#a78bfa', 'target-arrow-color': '#a78bfa', 'width': (ele) => flowWidth(ele.data('flow'), 2.2) } },
  { selector: 'edge[kind = "dead-letter"]', style: { 'line-style': 'dashed', 'line-color': '#f87171', 'target-arrow-color': '#f87171', 'color': '#fecaca' } },
  { selector: 'edge[kind = "alternate"]', style: { 'line-style': 'dashed', 'line-color': '#fbbf24', 'target-arrow-color': '#fbbf24', 'color': '#fde68a' } },
  { selector: 'edge[kind = "consumes"]', style: { 'line-color': '#475569', 'target-arrow-color': '#475569', 'width': (ele) => flowWidth(ele.data('flow'), 1.2) } },
  { selector: 'edge[?worker]', style: { 'line-color': '#16a34a', 'target-arrow-color': '#16a34a' } },
  { selector: 'edge.implicit', style: { 'line-style': 'dotted', 'line-color': '#64748b', 'target-arrow-color': '#64748b' } },
  { selector: 'edge.label-crowded', style: { 'target-label': '' } },
  ...lodStyles(),
  { selector: '.hidden', style: { 'display': 'none' } },
  // Dimmed (not on a route, not a search match) but still legible: labels stay readable.
  { selector: 'node.dimmed', style: { 'opacity': 0.42 } },
  { selector: 'edge.dimmed', style: { 'opacity': 0.22 } },
  { selector: '.match', style: { 'underlay-color': '#38bdf8', 'underlay-opacity': 0.35, 'underlay-padding': 6 } },
  { selector: '.highlight', style: { 'underlay-color': '#22c55e', 'underlay-opacity': 0.45, 'underlay-padding': 7, 'z-index': 10 } },
  { selector: 'edge.highlight', style: { 'line-color': '#22c55e', 'target-arrow-color': '#22c55e', 'width': 4, 'opacity': 1 } },
  ...badgeStyles(),
  { selector: ':selected', style: { 'overlay-color': '#38bdf8', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
];
