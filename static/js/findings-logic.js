// Findings frames applied to the list the page holds. The live service sends diffs (what
// came, went or changed; a finding is named by its rule and node), a recording replayed
// sends the whole list. Pure: Node's test runner checks it.
import { severityRank } from './vocabulary.js';

/** What names a finding: its rule and its node. */
export const findingKey = (f) => `${f.rule}\n${f.node}`;

/** The server's order: most severe first, then oldest, then by node and rule. */
export function sortFindings(list) {
  const text = (value) => String(value ?? '');
  return [...list].sort((a, b) => severityRank(a.severity) - severityRank(b.severity)
    || (Number(a.since) || 0) - (Number(b.since) || 0)
    || text(a.node).localeCompare(text(b.node)) || text(a.rule).localeCompare(text(b.rule)));
}

/** The list after one `findings` frame: a whole list replaces it, a diff edits it. */
export function applyFindingsFrame(list, frame) {
  if (Array.isArray(frame?.findings)) return sortFindings(frame.findings);
  const byKey = new Map(list.map((f) => [findingKey(f), f]));
  for (const gone of Array.isArray(frame?.removed) ? frame.removed : []) byKey.delete(findingKey(gone));
  for (const part of ['changed', 'added']) {
    for (const f of Array.isArray(frame?.[part]) ? frame[part] : []) byKey.set(findingKey(f), f);
  }
  return sortFindings([...byKey.values()]);
}
