// A queue's depth over time as an SVG chart with axes: messages up the side, clock times
// along the bottom, ready messages as a filled step line and unacknowledged as a line.
// The scales and ticks are pure functions (tested in Node); drawing needs a document.
import { clockTime, number } from './humane.js';

const SVG = 'http://www.w3.org/2000/svg';
const MIN_SPAN = 60; // seconds: a queue seen for a moment still gets a readable time axis
const TIME_STEPS = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

/** Round tick values from 0 to at least `max`, whole messages: 0, 2, 4… or 0, 5,000, 10,000… */
export function niceScale(max, ticks = 4) {
  const top = Math.max(1, Number(max) || 0);
  const rough = top / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough));
  const count = Math.ceil(top / step);
  return { max: count * step, step, ticks: Array.from({ length: count + 1 }, (_, i) => i * step) };
}

/** The time span the chart covers: the retained window, or less when the history is shorter. */
export function timeSpan(points, windowSeconds) {
  const end = points[points.length - 1][0];
  const first = points[0][0];
  const start = Math.max(end - (Number(windowSeconds) || 900), Math.min(first, end - MIN_SPAN));
  return { start, end };
}

/** Clock times for the time axis, on round steps (every 5 min, every 30 s…), about `count` of them. */
export function timeTicks(start, end, count = 4) {
  const span = Math.max(1, end - start);
  const step = TIME_STEPS.find((s) => span / s <= count) ?? TIME_STEPS[TIME_STEPS.length - 1];
  const ticks = [];
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) ticks.push(t);
  return { step, ticks };
}

/** Points as a step line ("x,y x,y …"): a queue's depth holds between two polls. */
export function stepLine(points, x, y, column) {
  const coords = [];
  points.forEach((p, i) => {
    if (i > 0) coords.push([x(p[0]), y(points[i - 1][column])]);
    coords.push([x(p[0]), y(p[column])]);
  });
  return coords.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ');
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

/** The chart, `width` pixels wide (drawn at its real size, so its text is never scaled down). */
export function depthChart(points, { windowSeconds = 900, width = 320, height = 150 } = {}) {
  const { start, end } = timeSpan(points, windowSeconds);
  const shown = points.filter((p) => p[0] >= start);
  const visible = shown.length ? shown : points.slice(-1);
  const scale = niceScale(Math.max(...visible.map((p) => Math.max(p[1], p[2] ?? 0))));
  const left = 12 + 7 * Math.max(...scale.ticks.map((t) => number(t).length));
  const plot = { left, right: width - 10, top: 20, bottom: height - 22 };
  const x = (t) => plot.left + ((Math.max(t, start) - start) / (end - start || 1)) * (plot.right - plot.left);
  const y = (v) => plot.bottom - (v / scale.max) * (plot.bottom - plot.top);

  const chart = svg('svg', { class: 'depth-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `messages in the queue from ${clockTime(start)} to ${clockTime(end)}` });
  chart.append(svg('text', { class: 'axis-title', x: 4, y: 11 }, 'messages'));
  for (const tick of scale.ticks) {
    chart.append(svg('line', { class: 'grid', x1: plot.left, x2: plot.right, y1: y(tick), y2: y(tick) }));
    chart.append(svg('text', { class: 'tick y-tick', x: plot.left - 5, y: y(tick) + 4, 'text-anchor': 'end' }, number(tick)));
  }
  const times = timeTicks(start, end, Math.max(2, Math.floor((plot.right - plot.left) / 70)));
  for (const t of times.ticks) {
    chart.append(svg('line', { class: 'axis', x1: x(t), x2: x(t), y1: plot.bottom, y2: plot.bottom + 4 }));
    chart.append(svg('text', { class: 'tick x-tick', x: x(t), y: height - 6, 'text-anchor': 'middle' },
      clockTime(t).slice(0, times.step < 60 ? 8 : 5)));
  }
  chart.append(svg('line', { class: 'axis', x1: plot.left, x2: plot.right, y1: plot.bottom, y2: plot.bottom }));
  chart.append(svg('line', { class: 'axis', x1: plot.left, x2: plot.left, y1: plot.top, y2: plot.bottom }));

  const ready = stepLine(visible, x, y, 1);
  const first = visible[0];
  const last = visible[visible.length - 1];
  chart.append(svg('polygon', { class: 'ready-area', points: `${x(first[0]).toFixed(1)},${plot.bottom} ${ready} ${x(last[0]).toFixed(1)},${plot.bottom}` }));
  chart.append(svg('polyline', { class: 'ready-line', points: ready }));
  if (visible.some((p) => p[2] !== undefined)) chart.append(svg('polyline', { class: 'unacked-line', points: stepLine(visible, x, y, 2) }));
  return chart;
}
