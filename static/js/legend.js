// The legend: every colour, shape, border, badge, line and marker the canvas draws, each
// drawn the way the graph draws it. It lives in a toolbar menu, so it never covers the graph
// unless asked for. Kind and state words come from the server's vocabulary.
import { DEPTH_COLOURS, EXCHANGE_LOOK, badgeImage, depthThresholds } from './graph-style.js';
import { count, el } from './format.js';
import { severityLabel, vocabulary } from './vocabulary.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg(width, height, ...children) {
  const root = document.createElementNS(SVG, 'svg');
  for (const [k, v] of Object.entries({ width, height, viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true', class: 'legend-icon' })) root.setAttribute(k, String(v));
  root.append(...children);
  return root;
}

function shape(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const polygon = (points, fill, extra = {}) => shape('polygon', { points, fill, ...extra });
const look = (type) => ({ fill: EXCHANGE_LOOK[type].fill, stroke: EXCHANGE_LOOK[type].border, 'stroke-width': 1.5 });
const icon = {
  direct: () => svg(40, 20, polygon('7,2 33,2 39,10 33,18 7,18 1,10', '', look('direct'))),
  fanout: () => svg(40, 20, shape('ellipse', { cx: 20, cy: 10, rx: 18.5, ry: 8.5, ...look('fanout') })),
  topic: () => svg(40, 20, polygon('8,2 39,2 32,18 1,18', '', look('topic'))),
  headers: () => svg(40, 20, polygon('6,2 34,2 39,6 39,14 34,18 6,18 1,14 1,6', '', look('headers'))),
  other: () => svg(40, 20, shape('path', { d: 'M5 2 H35 Q40 10 35 18 H5 Q0 10 5 2 Z', ...look('other') })),
  default: () => svg(40, 20, shape('rect', { x: 1, y: 2, width: 38, height: 16, rx: 4, ...look('default') })),
  missing: () => svg(40, 20, shape('rect', { x: 1, y: 2, width: 38, height: 16, rx: 4, fill: 'none', stroke: '#ef4444', 'stroke-width': 1.6, 'stroke-dasharray': '3 2' })),
  internal: () => svg(40, 20, shape('ellipse', { cx: 20, cy: 10, rx: 18, ry: 8, fill: EXCHANGE_LOOK.fanout.fill, stroke: '#e2e8f0', 'stroke-width': 3 }),
    shape('ellipse', { cx: 20, cy: 10, rx: 15.5, ry: 5.5, fill: 'none', stroke: '#0f172a', 'stroke-width': 1 })),
  queue: (fill, pct, stroke = '#64748b', dash = null) => svg(40, 18,
    shape('rect', { x: 1, y: 2, width: 38, height: 14, rx: 3, fill: '#e2e8f0' }),
    shape('rect', { x: 1, y: 2, width: 38 * pct, height: 14, rx: 3, fill }),
    shape('rect', { x: 1, y: 2, width: 38, height: 14, rx: 3, fill: 'none', stroke, 'stroke-width': dash ? 2 : 1.2, ...(dash ? { 'stroke-dasharray': dash } : {}) })),
  connection: () => svg(40, 22, shape('rect', { x: 1, y: 1, width: 38, height: 20, rx: 4, fill: '#1e293b', stroke: '#334155' }),
    shape('rect', { x: 6, y: 8, width: 28, height: 9, rx: 2, fill: '#334155', stroke: '#64748b' })),
  consumer: (dash) => svg(40, 18, shape('rect', { x: 2, y: 3, width: 36, height: 12, rx: 3, fill: '#334155', stroke: '#64748b', ...(dash ? { 'stroke-dasharray': '3 2' } : {}) })),
  worker: (online) => svg(40, 20, shape('rect', { x: 2, y: 2, width: 36, height: 16, rx: 3, fill: online ? '#14532d' : '#1f2937',
    stroke: online ? '#22c55e' : '#64748b', 'stroke-width': 1.8, ...(online ? {} : { 'stroke-dasharray': '3 2' }) })),
  line: (colour, { dash = null, width = 2 } = {}) => svg(40, 12, shape('line', { x1: 2, y1: 6, x2: 32, y2: 6, stroke: colour, 'stroke-width': width, ...(dash ? { 'stroke-dasharray': dash } : {}) }),
    polygon('32,2 39,6 32,10', colour)),
  widths: () => svg(40, 18, ...[1.4, 3, 5.5].map((w, i) => shape('line', { x1: 2, y1: 3 + i * 6, x2: 38, y2: 3 + i * 6, stroke: '#64748b', 'stroke-width': w }))),
  marker: () => svg(40, 12, shape('line', { x1: 2, y1: 6, x2: 38, y2: 6, stroke: '#64748b', 'stroke-width': 1.6 }),
    shape('circle', { cx: 14, cy: 6, r: 3.6, fill: '#bae6fd', stroke: '#0f172a', 'stroke-width': 1.2 }),
    shape('circle', { cx: 28, cy: 6, r: 3.6, fill: '#bbf7d0', stroke: '#0f172a', 'stroke-width': 1.2 })),
  task: () => svg(40, 14, shape('line', { x1: 2, y1: 7, x2: 38, y2: 7, stroke: '#38bdf8', 'stroke-width': 3 }),
    shape('circle', { cx: 20, cy: 7, r: 5, fill: '#38bdf8' }), shape('circle', { cx: 32, cy: 7, r: 5, fill: '#ef4444' })),
  traced: () => svg(40, 14, shape('line', { x1: 2, y1: 7, x2: 38, y2: 7, stroke: '#64748b', 'stroke-width': 1.6 }),
    polygon('12,1.5 17.5,7 12,12.5 6.5,7', '#f472b6', { stroke: '#fdf2f8', 'stroke-width': 1.2 }),
    polygon('29,1.5 34.5,7 29,12.5 23.5,7', '#f472b6', { stroke: '#fbbf24', 'stroke-width': 2 })),
  tracedOtherwise: () => svg(40, 14, shape('line', { x1: 2, y1: 7, x2: 38, y2: 7, stroke: '#64748b', 'stroke-width': 1.6 }),
    polygon('20,1.5 25.5,7 20,12.5 14.5,7', '#ef4444', { stroke: '#fdf2f8', 'stroke-width': 1.2 })),
  tracedBadge: () => el('span', { class: 'legend-text-icon legend-trace-badge', text: '1,204 · 38/s' }),
  leadIn: () => svg(40, 12, shape('circle', { cx: 4, cy: 6, r: 3, fill: '#f472b6' }),
    shape('line', { x1: 4, y1: 6, x2: 38, y2: 6, stroke: '#f472b6', 'stroke-width': 1.5, 'stroke-dasharray': '5 4' })),
  glow: (colour) => svg(40, 20, shape('rect', { x: 1, y: 1, width: 38, height: 18, rx: 6, fill: colour, opacity: 0.45 }),
    shape('rect', { x: 6, y: 5, width: 28, height: 10, rx: 2, fill: '#e2e8f0' })),
  badge: (severity) => el('img', { src: badgeImage(severity), width: 18, height: 18, alt: '', class: 'legend-icon' }),
  text: (t) => el('span', { class: 'legend-text-icon', text: t }),
};

const typeWords = (type) => vocabulary.exchange_types?.[type] ?? { label: type, explanation: '' };
const edgeWords = (kind, fallback) => vocabulary.edge_kinds?.[kind]?.legend ?? fallback;
const kindWord = (kind) => vocabulary.node_kinds?.[kind]?.label ?? kind;

function item(marker, title, detail = '') {
  return el('li', {}, el('span', { class: 'legend-marker' }, marker), el('span', {},
    el('strong', { text: title }), detail ? el('span', { class: 'muted', text: ` ${detail}` }) : null));
}

function section(title, ...items) {
  return el('section', {}, el('h4', { text: title }), el('ul', {}, ...items));
}

function exchanges() {
  const types = ['direct', 'fanout', 'topic', 'headers'].map((t) => item(icon[t](), typeWords(t).label, typeWords(t).explanation));
  const other = vocabulary.other_exchange_type ?? { label: 'other', explanation: '' };
  return section(`${kindWord('exchange')}s: colour and shape by type, name inside`,
    ...types,
    item(icon.other(), other.label, other.explanation),
    item(icon.default(), vocabulary.default_exchange_label ?? 'default', 'to the queue named by the routing key'),
    item(icon.missing(), typeWords('missing').label, typeWords('missing').explanation),
    item(icon.internal(), 'double border', 'internal: only other exchanges publish to it'));
}

function queues() {
  const steps = depthThresholds();
  return section(`${kindWord('queue')}s`,
    item(icon.queue(DEPTH_COLOURS.low, 0.35), 'fill', `ready messages, log scale: amber from ${count(steps.half)}, red from ${count(steps.full)}`),
    item(icon.queue(DEPTH_COLOURS.half, 0.6, '#ef4444', '3 2'), 'red dashed border', 'messages ready and no consumer'),
    item(icon.text('420 ready · 3 unacked'), '', 'waiting, and delivered but not yet acknowledged'),
    item(icon.text('↓12 ↑11/s'), '', 'published to it ↓ and delivered from it ↑, a second'),
    item(icon.text('quorum · 3/3'), '', 'replicated queue: replicas up of all'),
    item(icon.text('?'), '', 'a figure the broker does not give'),
    item(icon.text('orders · 420'), '', 'zoomed out: the name and its ready messages'),
    item(icon.text('svc-0042.*'), 'double border', 'a big vhost\'s name group: its queues, their ready total, their worst finding; click to show each one'),
    item(icon.text('×20'), '', 'a line standing for 20 lines into or out of a name group'));
}

function consumers() {
  return section('Who consumes',
    item(icon.connection(), kindWord('connection'), 'by its client\'s name, or product @ address; inside, each consumer by its tag'),
    item(icon.consumer(true), 'dashed', 'consumer not active (single-active-consumer standby)'),
    item(icon.worker(true), kindWord('worker'), 'online; its connection and consumers are in its details'),
    item(icon.worker(false), 'dashed grey', 'worker offline'));
}

function lines() {
  return section('Lines',
    item(icon.line('#64748b'), edgeWords('binding', 'binding'), '(none shown when it is the queue\'s own name)'),
    item(icon.line('#a78bfa', { width: 2.6 }), edgeWords('exchange-binding', 'exchange → exchange')),
    item(icon.line('#f87171', { dash: '4 3' }), edgeWords('dead-letter', 'dead-letter')),
    item(icon.line('#fbbf24', { dash: '4 3' }), edgeWords('alternate', 'alternate')),
    item(icon.line('#64748b', { dash: '1.5 3' }), 'implicit default-exchange binding', '(View menu, or a queue Celery sends to by name)'),
    item(icon.line('#475569', { width: 1.4 }), edgeWords('consumes', 'consumed by')),
    item(icon.line('#16a34a'), 'consumed by a Celery worker'));
}

function traffic() {
  return section('Traffic',
    item(icon.widths(), 'width', 'message rate, from the broker\'s figures (log scale)'),
    item(icon.marker(), 'moving dots', 'messages on their way, from the broker\'s rates: one dot a message, up to 5 a second (green: to consumers)'),
    item(icon.task(), 'blue line and dots', 'Celery tasks in flight (label: tasks a second); a red dot is a failed task'),
    item(icon.glow('#ef4444'), 'red or amber glow', 'a Celery worker just failed or retried a task'));
}

function tracing() {
  return section('Traced messages (Trace tab)',
    item(icon.traced(), 'pink diamonds', 'real messages from a firehose trace, each on the path it took; at high rates a sample of them. An amber ring: redelivered'),
    item(icon.tracedOtherwise(), 'red diamond', 'the broker routed it otherwise than the simulator says'),
    item(icon.tracedBadge(), '', 'messages traced along the edge since the trace started, and a second while they flow (exact)'),
    item(icon.leadIn(), 'dashed lead-in', 'a publisher that is not on the graph (its user and address), into the exchange it publishes to'));
}

function findings() {
  const badges = (vocabulary.severities ?? ['critical', 'warning', 'info'].map((id) => ({ id }))).map((s) => item(icon.badge(s.id), severityLabel(s.id),
    `${s.id === 'critical' ? 'needs action now' : s.id === 'warning' ? 'will need action' : 'worth knowing'}; the border takes the colour`));
  return section('Findings',
    ...badges,
    item(icon.text('hover'), '', 'a node for its findings; the Findings tab lists them all'),
    item(icon.glow('#38bdf8'), 'cyan glow', 'matches the search'),
    item(icon.glow('#22c55e'), 'green', 'the route of a message (Route tab)'));
}

/** Fill the legend panel. */
export function renderLegend(container) {
  container.append(el('div', { class: 'legend-grid' }, exchanges(), queues(), consumers(), lines(), traffic(), tracing(), findings()),
    el('p', { class: 'muted legend-foot', text: 'Zoomed out, labels shorten to names, then to shapes: hover anything for what it is.' }));
}

/** Toolbar menus (<details>): one open at a time, closed by a click elsewhere or Escape. */
export function setupMenus(root = document) {
  const menus = [...root.querySelectorAll('details.menu')];
  menus.forEach((menu) => menu.addEventListener('toggle', () => {
    if (menu.open) menus.forEach((other) => { if (other !== menu) other.open = false; });
  }));
  document.addEventListener('click', (event) => {
    menus.forEach((menu) => { if (menu.open && !menu.contains(event.target)) menu.open = false; });
  });
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    menus.forEach((menu) => { if (menu.open) { menu.open = false; menu.querySelector('summary')?.focus(); } });
  });
}
