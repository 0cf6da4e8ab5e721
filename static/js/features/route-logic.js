// The Route tab's own logic, without the DOM: reading a typed header, keeping only the answer
// to the newest question, and finding the server's explanation of a clicked edge. Node's test
// runner checks it (tests/js/route.test.js).
import { vocabulary } from '../vocabulary.js';

export const HEADER_TYPES = ['string', 'integer', 'float', 'boolean'];

/** A typed header's value as JSON wants it, or throws with a message for the form. */
export function typedValue(name, type, raw) {
  const text = raw.trim();
  if (type === 'string') return raw;
  if (type === 'boolean') {
    if (text === 'true' || text === 'false') return text === 'true';
    throw new Error(`header ${name}: a boolean is true or false, not '${raw}'`);
  }
  const number = Number(text);
  if (text === '' || !Number.isFinite(number)) throw new Error(`header ${name}: '${raw}' is not a number`);
  if (type === 'integer' && !Number.isSafeInteger(number)) throw new Error(`header ${name}: '${raw}' is not a whole number`);
  return number;
}

/** Headers from the form's rows ([{name, type, value}]): rows without a name are skipped. */
export function readHeaders(rows) {
  const headers = {};
  for (const { name, type, value } of rows) {
    if (name) headers[name] = typedValue(name, type, value);
  }
  return headers;
}

/**
 * Tickets for questions: each question asked takes one, and an answer is shown only while its
 * ticket is the newest. A newer question, a cleared panel or a changed form makes every earlier
 * ticket stale, so a slow answer never lands under a later question.
 */
export class Tickets {
  constructor() { this.issued = 0; this.valid = 0; }

  take() {
    this.issued += 1;
    this.valid = this.issued;
    return this.issued;
  }

  holds(ticket) { return ticket !== 0 && ticket === this.valid; }

  /** No answer pending may be shown any more. */
  void() { this.issued += 1; this.valid = 0; }
}

/** Why a clicked edge did or did not carry the message: the answer's entry for the edge, else
 * the verdict for edges leaving its source exchange; null when the answer says nothing of it. */
export function explanationFor(answer, edgeId, sourceId) {
  if (!answer) return null;
  const found = (answer.bindings ?? []).find((entry) => entry.edge === edgeId) ?? answer.otherwise?.[sourceId];
  if (!found) return null;
  const label = vocabulary.route_verdicts?.[found.verdict]?.label ?? found.verdict;
  return { verdict: found.verdict, label, reason: found.reason, carried: Boolean(found.matched) };
}

/** The route answer's status as the vocabulary words it: {label, tone}. */
export function statusWords(status) {
  return vocabulary.route_statuses?.[status] ?? { label: status, tone: '' };
}

/** Queue ids whose implicit default-exchange binding the answer passes (for the graph to draw). */
export function implicitQueues(answer) {
  return (answer?.hops ?? []).filter((hop) => hop.via === 'default-exchange').map((hop) => hop.to_id);
}
