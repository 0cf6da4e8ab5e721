// The graph's hover tooltip: what a node or edge is, its findings (rule title and message),
// and what its label leaves out (a binding key, a rate). Text only: built with textContent.
import { count, displayName, el, rate, visibleName, visibleText } from './format.js';
import { groupSummary } from './graph-style.js';
import { ruleTitle, severityLabel, severityRank, vocabulary } from './vocabulary.js';

const kindLabel = (kind) => vocabulary.node_kinds?.[kind]?.label ?? vocabulary.edge_kinds?.[kind]?.label ?? kind ?? '';

/** Lines for a node: [{text, className}], most severe finding first. */
export function nodeLines(d, findings = []) {
  const lines = [{ text: visibleName(displayName(d)), className: 'tip-title' }];
  const kind = d.kind === 'exchange' && d.type ? `${d.type} ${kindLabel('exchange')}` : kindLabel(d.kind);
  lines.push({ text: d.kind === 'worker' ? `${kind} · ${d.online ? 'online' : 'offline'}` : kind, className: 'tip-kind' });
  if (d.kind === 'group') {
    lines[0].text = visibleName(d.label);
    lines.push({ text: `${groupSummary(d)}${d.consumers ? ` · ${count(d.consumers)} consumers` : ''}`, className: 'tip-message' });
    lines.push({ text: 'Click to show each one', className: 'tip-message' });
  }
  const sorted = [...findings].sort((a, b) => severityRank(a.severity) - severityRank(b.severity));
  for (const f of sorted) {
    lines.push({ text: `${severityLabel(f.severity)}: ${ruleTitle(f.rule)}`, className: `tip-finding sev-${f.severity}` });
    lines.push({ text: visibleText(f.message ?? ''), className: 'tip-message' });
  }
  return lines;
}

/** Lines for an edge: where it goes, its key or kind, and its rate when known. */
export function edgeLines(d, source, target) {
  const lines = [{ text: `${visibleName(displayName(source))} → ${visibleName(displayName(target))}`, className: 'tip-title' }];
  const kind = d.implicit ? 'implicit default-exchange binding' : kindLabel(d.kind === 'binding' && d.destination_type === 'exchange' ? 'exchange-binding' : d.kind);
  lines.push({ text: kind, className: 'tip-kind' });
  if (d.kind === 'binding' && source.type === 'headers') {
    lines.push({ text: `headers: ${visibleText(JSON.stringify(d.arguments ?? {}))}`, className: 'tip-message' });
  } else if (d.routing_key !== null && d.routing_key !== undefined && source.type !== 'fanout') {
    lines.push({ text: `routing key: ${d.routing_key === '' ? '""' : visibleName(d.routing_key)}`, className: 'tip-message' });
  }
  if (d.folded > 1) lines.push({ text: `${count(d.folded)} of them, between a name group and its neighbour`, className: 'tip-message' });
  if (typeof d.flow === 'number') lines.push({ text: `about ${rate(d.flow)}`, className: 'tip-message' });
  return lines;
}

export class Tooltip {
  constructor(parent) {
    this.box = el('div', { class: 'graph-tooltip', role: 'tooltip', id: 'graph-tooltip', hidden: true });
    parent.append(this.box);
  }

  /** Show lines near (x, y), in the parent's coordinates, kept inside it. */
  show(x, y, lines) {
    this.box.replaceChildren(...lines.map((line) => el('div', { class: line.className, text: line.text })));
    this.box.hidden = false;
    const parent = this.box.parentElement.getBoundingClientRect();
    const own = this.box.getBoundingClientRect();
    const left = Math.min(x + 14, parent.width - own.width - 6);
    const top = y + 16 + own.height > parent.height ? y - own.height - 12 : y + 16;
    this.box.style.left = `${Math.max(6, left)}px`;
    this.box.style.top = `${Math.max(6, top)}px`;
  }

  hide() { this.box.hidden = true; }
}
