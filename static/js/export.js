// The graph as shown, to a file: PNG from Cytoscape's own renderer, SVG drawn here from the
// positions, shapes, colours and labels Cytoscape computed for what is on screen. The SVG is
// built with DOM calls (createElementNS, textContent) and XMLSerializer, so a name is always
// text in it, never markup. Files are named with the vhost and the moment shown.
import { fileStamp } from './timeline-logic.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const BACKGROUND = '#0f172a';
const ARROW = 7; // an arrowhead's length, in graph units

/** A file name for the view of a vhost at time t: "rabbitmq-orders-20260301-031205.svg". */
export function exportName(vhost, t, ext) {
  const name = vhost === '/' ? 'default' : String(vhost ?? '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 60);
  return `rabbitmq-${name || 'vhost'}-${fileStamp(t)}.${ext}`;
}

/** Text XML can hold: characters XML 1.0 forbids (control characters, lone surrogates) become U+FFFD. */
export function xmlSafe(text) {
  let out = '';
  for (const ch of String(text ?? '')) { // by code point: a surrogate pair stays one character
    const code = ch.codePointAt(0);
    const forbidden = (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d)
      || (code >= 0xd800 && code <= 0xdfff) || code === 0xfffe || code === 0xffff;
    out += forbidden ? '\uFFFD' : ch;
  }
  return out;
}

/** Hand a blob to the browser as a download. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** The viewport as a PNG (twice the screen's pixels, for print). */
export function pngOf(cy) {
  return cy.png({ output: 'blob', bg: BACKGROUND, full: false, scale: 2 });
}

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== '') node.setAttribute(key, String(value));
  }
  if (text !== null) node.textContent = xmlSafe(text);
  return node;
}

const px = (value) => parseFloat(value) || 0;
const round = (n) => Math.round(n * 100) / 100;

/** A label's lines as <text> with one <tspan> a line, centred on (x, y). */
function labelOf(ele, x, y) {
  const label = String(ele.style('label') ?? '');
  if (!label.trim() || ele.style('text-opacity') === '0') return null;
  const size = px(ele.style('font-size')) || 11;
  const lines = label.split('\n');
  const text = svgEl('text', {
    x: round(x), y: round(y - ((lines.length - 1) * size * 1.15) / 2), 'font-size': size,
    'font-weight': ele.style('font-weight'), fill: ele.style('color'), 'text-anchor': 'middle', 'dominant-baseline': 'middle',
  });
  lines.forEach((line, i) => text.append(svgEl('tspan', { x: round(x), dy: i ? round(size * 1.15) : 0 }, line)));
  return text;
}

function edgeOf(edge) {
  const s = edge.sourceEndpoint();
  const t = edge.targetEndpoint();
  if (![s.x, s.y, t.x, t.y].every(Number.isFinite)) return null;
  const colour = edge.style('line-color');
  const width = px(edge.style('width')) || 1;
  const group = svgEl('g', { class: 'edge', 'data-id': xmlSafe(edge.id()), opacity: edge.style('opacity') });
  const control = edge.controlPoints?.();
  const d = control && control.length === 1
    ? `M${round(s.x)},${round(s.y)} Q${round(control[0].x)},${round(control[0].y)} ${round(t.x)},${round(t.y)}`
    : `M${round(s.x)},${round(s.y)} L${round(t.x)},${round(t.y)}`;
  const dashed = edge.style('line-style') === 'dashed' ? `${width * 3},${width * 2}` : edge.style('line-style') === 'dotted' ? `${width},${width * 2}` : '';
  group.append(svgEl('path', { d, fill: 'none', stroke: colour, 'stroke-width': width, 'stroke-dasharray': dashed }));
  if (edge.style('target-arrow-shape') !== 'none') {
    const from = control && control.length === 1 ? control[0] : s;
    const angle = Math.atan2(t.y - from.y, t.x - from.x);
    const size = ARROW + width;
    const corner = (a) => `${round(t.x - size * Math.cos(angle + a))},${round(t.y - size * Math.sin(angle + a))}`;
    group.append(svgEl('polygon', { points: `${round(t.x)},${round(t.y)} ${corner(0.45)} ${corner(-0.45)}`, fill: edge.style('target-arrow-color') }));
  }
  const mid = edge.midpoint();
  const label = labelOf(edge, mid.x, mid.y);
  if (label) group.append(label);
  return group;
}

function nodeOf(node) {
  const { x, y } = node.position();
  const w = node.width();
  const h = node.height();
  const group = svgEl('g', { class: 'node', 'data-id': xmlSafe(node.id()), opacity: node.style('opacity') });
  const paint = {
    fill: node.style('background-color'), 'fill-opacity': node.style('background-opacity'),
    stroke: node.style('border-color'), 'stroke-width': px(node.style('border-width')),
  };
  const shape = node.style('shape');
  if (shape === 'ellipse') group.append(svgEl('ellipse', { cx: round(x), cy: round(y), rx: round(w / 2), ry: round(h / 2), ...paint }));
  else {
    const radius = shape.startsWith('round') ? Math.min(8, w / 4, h / 4) : 0;
    group.append(svgEl('rect', { x: round(x - w / 2), y: round(y - h / 2), width: round(w), height: round(h), rx: round(radius), ...paint }));
  }
  const valign = node.style('text-valign');
  const ly = valign === 'bottom' ? y + h / 2 + px(node.style('font-size')) : valign === 'top' ? y - h / 2 - px(node.style('font-size')) : y;
  const label = labelOf(node, x, ly);
  if (label) group.append(label);
  const title = svgEl('title', {}, node.data('name') ?? node.id());
  group.prepend(title);
  return group;
}

/** The viewport as an SVG document (a string), with a title line saying what it shows. */
export function svgOf(cy, heading) {
  const box = cy.extent();
  const svg = svgEl('svg', {
    viewBox: `${round(box.x1)} ${round(box.y1)} ${round(box.w)} ${round(box.h)}`,
    width: Math.round(cy.width()), height: Math.round(cy.height()),
    'font-family': 'system-ui, -apple-system, Segoe UI, Roboto, Noto Sans, sans-serif',
  });
  svg.append(svgEl('title', {}, heading));
  svg.append(svgEl('rect', { x: round(box.x1), y: round(box.y1), width: round(box.w), height: round(box.h), fill: BACKGROUND }));
  const shown = cy.elements().filter((e) => e.visible() && e.data('kind') !== 'celery-dot');
  const edges = svgEl('g', { class: 'edges' });
  shown.edges().forEach((e) => { const g = edgeOf(e); if (g) edges.append(g); });
  const nodes = svgEl('g', { class: 'nodes' });
  // Parents (folded groups) first, so their children are drawn over them.
  const ordered = [...shown.nodes().filter((n) => n.isParent()), ...shown.nodes().filter((n) => !n.isParent())];
  ordered.forEach((n) => nodes.append(nodeOf(n)));
  svg.append(edges, nodes);
  const caption = svgEl('text', { x: round(box.x1 + 8 * box.w / cy.width()), y: round(box.y1 + 16 * box.h / cy.height()),
    'font-size': round(12 * box.w / cy.width()), fill: '#94a3b8' }, heading);
  svg.append(caption);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(svg)}`;
}
