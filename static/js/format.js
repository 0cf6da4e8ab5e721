// Formatting and safe DOM building. Broker-supplied strings only ever reach the page
// through textContent or Cytoscape labels (canvas text): never as HTML.

export const DEFAULT_EXCHANGE_LABEL = '(AMQP default)';

/** createElement with properties and children; strings become text nodes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Shorten a label for the canvas; the details panel always shows the whole name. */
export function shorten(text, max = 42) {
  const chars = Array.from(String(text ?? ''));
  return chars.length > max ? chars.slice(0, max - 1).join('') + '…' : chars.join('');
}

export function displayName(node) {
  if (node.kind === 'exchange' && node.name === '') return DEFAULT_EXCHANGE_LABEL;
  return node.label ?? node.name ?? '';
}

export function count(n) {
  if (n === null || n === undefined) return '–';
  if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(n >= 1e5 ? 0 : 1) + 'k';
  return String(n);
}

export function rate(r) {
  if (r === null || r === undefined) return '';
  return r >= 100 ? `${Math.round(r)}/s` : `${Math.round(r * 10) / 10}/s`;
}

export function plural(n, word) {
  return `${count(n)} ${word}${n === 1 ? '' : 's'}`;
}

export function ago(epochSeconds) {
  if (!epochSeconds) return 'never';
  const s = Math.max(0, Date.now() / 1000 - epochSeconds);
  if (s < 2) return 'just now';
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export function clock(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toLocaleTimeString() : '–';
}

/** A JSON value as text for the details table. */
export function valueText(value) {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'string') return value === '' ? '""' : value;
  if (typeof value === 'object') return JSON.stringify(value, null, 1);
  return String(value);
}
