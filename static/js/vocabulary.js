// The words and orders the page uses, as the server sends them (visualiser/contract/vocabulary.py):
// labels of kinds and states, the order of severities, which source states are healthy, field
// labels and formats. Read once from the page's JSON block; nothing here is restated by hand.

function read() {
  const block = typeof document === 'undefined' ? null : document.getElementById('vocabulary');
  try {
    return block ? JSON.parse(block.textContent) : {};
  } catch (err) {
    console.error('vocabulary: unreadable', err);
    return {};
  }
}

export const vocabulary = read();

/** Load another vocabulary (the page's own tests, which run outside a page). */
export function useVocabulary(words) {
  for (const key of Object.keys(vocabulary)) delete vocabulary[key];
  Object.assign(vocabulary, words);
}

export function severityRank(severity) {
  const found = (vocabulary.severities ?? []).find((s) => s.id === severity);
  return found ? found.rank : 99;
}

export function severityLabel(severity) {
  return (vocabulary.severities ?? []).find((s) => s.id === severity)?.label ?? severity;
}

export function isHealthy(state) {
  return Boolean(vocabulary.source_states?.[state]?.healthy);
}

export function stateLabel(state) {
  return vocabulary.source_states?.[state]?.label ?? state;
}

export function sourceLabel(source) {
  return vocabulary.sources?.[source] ?? source;
}

export function taskTone(state) {
  return (vocabulary.task_states ?? []).find((s) => s.id === state)?.tone ?? 'pending';
}

export function taskStates() {
  return (vocabulary.task_states ?? []).map((s) => s.id);
}

export function ruleTitle(rule) {
  return vocabulary.rules?.[rule] ?? rule;
}

export function fieldInfo(name) {
  return vocabulary.fields?.[name] ?? { label: name, format: 'text' };
}

export function defaultExchangeLabel() {
  return vocabulary.default_exchange_label ?? '';
}

/** A field of an element of `kind` as the details panel shows it: {label, format, missing}, where
 * `missing` is what a null value reads as ('' hides the row); null for a field the page does not show. */
export function fieldFor(kind, name) {
  const fields = vocabulary.fields ?? {};
  const key = `${kind}.${name}`;
  const info = fields[key] ?? fields[name];
  if (!info) return null;
  const when = vocabulary.field_when_missing ?? {};
  const missingValues = vocabulary.missing_values ?? {};
  const missing = when[key] ?? when[name] ?? missingValues[kind] ?? missingValues.default ?? 'unknown';
  return { ...info, missing };
}

/** A queue or policy argument's label and format ({label, format}), by its key with or without "x-". */
export function argumentInfo(key) {
  const args = vocabulary.arguments ?? {};
  return args[key] ?? args[`x-${key}`] ?? null;
}

export function terminalTaskStates() {
  return (vocabulary.task_states ?? []).filter((s) => s.terminal).map((s) => s.id);
}

export function kindLabel(kind) {
  return vocabulary.node_kinds?.[kind]?.label ?? vocabulary.edge_kinds?.[kind]?.label ?? kind ?? '';
}

export function rateLabel(key) {
  return vocabulary.rate_labels?.[key] ?? key;
}

export function workerLinkSource(how) {
  return vocabulary.worker_link_sources?.[how] ?? how;
}
