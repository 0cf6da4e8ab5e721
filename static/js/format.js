// Formatting and safe DOM building. Broker-supplied strings only ever reach the page
// through textContent or Cytoscape labels (canvas text): never as HTML.

import { defaultExchangeLabel } from './vocabulary.js';

export const DEFAULT_EXCHANGE_LABEL = defaultExchangeLabel();

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

// ---- names: every broker-supplied name reaches the page through these ------------------------------
// A name may hold characters that do not show, or that change how the text around them shows:
// controls, format characters (bidirectional embeddings, overrides and isolates, zero-width
// joiners, byte order marks), line and paragraph separators, surrogate halves, spaces other than
// U+0020, and code points fonts draw as nothing (fillers). Each is shown as a marker, ‹U+202E›,
// and so are spaces at either end of the name: 'q' and 'q ' never look the same, and a
// right-to-left override in a name cannot reverse the page's own text after it. In the DOM a name
// is also its own <bdi>, so a right-to-left name does not reorder the sentence around it.
const INVISIBLE = /^(?:[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|[^\S ])$/u;
const CHAR_NAMES = {
  0x09: 'tab', 0x0a: 'line feed', 0x0d: 'carriage return', 0x20: 'space', 0xa0: 'no-break space',
  0xad: 'soft hyphen', 0x200b: 'zero width space', 0x200c: 'zero width non-joiner', 0x200d: 'zero width joiner',
  0x200e: 'left-to-right mark', 0x200f: 'right-to-left mark', 0x202a: 'left-to-right embedding',
  0x202b: 'right-to-left embedding', 0x202c: 'pop directional formatting', 0x202d: 'left-to-right override',
  0x202e: 'right-to-left override', 0x2066: 'left-to-right isolate', 0x2067: 'right-to-left isolate',
  0x2068: 'first strong isolate', 0x2069: 'pop directional isolate', 0xfeff: 'byte order mark',
};

function codePoint(ch) {
  return `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A name in pieces: {text} shown as it is, {text: '‹U+202E›', title} for a character that would
 * not show. Spaces at either end count as not showing, unless `ends` is false (a sentence). */
export function nameParts(name, ends = true) {
  const chars = Array.from(String(name ?? ''));
  let start = 0;
  let end = chars.length;
  while (ends && start < end && chars[start] === ' ') start += 1;
  while (ends && end > start && chars[end - 1] === ' ') end -= 1;
  const parts = [];
  let run = '';
  chars.forEach((ch, i) => {
    if (i >= start && i < end && !INVISIBLE.test(ch)) { run += ch; return; }
    if (run) { parts.push({ text: run }); run = ''; }
    const name = CHAR_NAMES[ch.codePointAt(0)];
    parts.push({ text: `‹${codePoint(ch)}›`, title: name ? `${codePoint(ch)} ${name}` : codePoint(ch) });
  });
  if (run) parts.push({ text: run });
  return parts;
}

/** A name as plain text with its invisible characters shown (select options, canvas labels). */
export function visibleName(name) {
  return nameParts(name).map((p) => p.text).join('');
}

/** A sentence the server wrote with names in it (a route's reasons, a finding): its invisible
 * characters shown, so that none of them can reverse or hide the rest of it. */
export function visibleText(text) {
  return nameParts(text, false).map((p) => p.text).join('');
}

/** A name as a DOM node: its own <bdi>, invisible characters as marked spans. */
export function nameNode(name, className = 'name') {
  const node = el('bdi', { class: className });
  for (const part of nameParts(name)) {
    node.append(part.title ? el('span', { class: 'invisible-char', title: part.title, text: part.text }) : part.text);
  }
  return node;
}

/** Canvas text has no elements: a name set inside other text is wrapped in Unicode isolates (FSI…PDI). */
export function isolated(text) {
  return `\u2068${text}\u2069`;
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

/** A JSON value as text for the details table; strings in it show their invisible characters. */
export function valueText(value) {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'string') return value === '' ? '""' : visibleName(value);
  if (typeof value === 'object') return JSON.stringify(visibleStrings(value), null, 1);
  return String(value);
}

/** A copy of a JSON value with every string in it, keys included, through visibleName. */
function visibleStrings(value) {
  if (typeof value === 'string') return visibleName(value);
  if (Array.isArray(value)) return value.map(visibleStrings);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [visibleName(k), visibleStrings(v)]));
  }
  return value;
}
