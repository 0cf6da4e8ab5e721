// Each source's health as the page tells it: which sources are failing, for how long, what
// each one's error was and what that means for what is on screen. Pure functions over the
// status frames (no DOM), so that Node's test runner checks them; words come from the
// server's vocabulary (source names, state labels, what an outage means).
import { isHealthy, sourceLabel, stateLabel, vocabulary } from './vocabulary.js';

/** A span of time in words: "12 s", "3 min", "2 h", "3 days". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

/** The vocabulary's key for a source: "trace:/orders" is one of the "trace" sources. */
function sourceKind(source) {
  const prefix = vocabulary.trace_source_prefix;
  return prefix && String(source).startsWith(prefix) ? prefix.slice(0, -1) : source;
}

/** A source's name for people: "RabbitMQ management API", "firehose trace (/orders)". */
export function sourceName(source) {
  const kind = sourceKind(source);
  if (kind === source) return sourceLabel(source);
  return `${sourceLabel(kind)} (${String(source).slice(kind.length + 1)})`;
}

/** The statuses that are not healthy, the graph's own source first, then by name. */
export function failing(statuses, topologySource = null) {
  return [...statuses.values()]
    .filter((status) => !isHealthy(status.state))
    .sort((a, b) => Number(b.source === topologySource) - Number(a.source === topologySource)
      || String(a.source).localeCompare(String(b.source)));
}

/** What a failing source means for the page, in the server's words; the graph's own source
 * also says which graph is on screen. `clock(epoch)` formats a time of day. */
function consequence(status, { topology, clock }) {
  const outage = vocabulary.source_outages?.[sourceKind(status.source)] ?? '';
  if (!topology) return outage;
  if (!status.last_success) return 'no graph has been read yet';
  return `${outage || 'the graph is the last one read'}, at ${clock(status.last_success)}`;
}

/** One banner line for a failing source: its name, its state and for how long, its error,
 * what that means for the page, and that it retries by itself. */
export function outageLine(status, { now, topology = false, clock = String }) {
  const since = Number.isFinite(status.since) ? ` for ${duration(now - status.since)}` : '';
  const error = status.last_error ? `: ${String(status.last_error).replace(/[.\s]+$/u, '')}` : '';
  const means = consequence(status, { topology, clock });
  return `${sourceName(status.source)} ${stateLabel(status.state)}${since}${error}.${means ? ` ${capitalise(means)};` : ''} ` +
    'retrying by itself.';
}

function capitalise(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/** The status bar's words for the graph's own source: its name, then the state unless all is
 * well, then where it reads from ("definitions file: shop.json, exported from RabbitMQ 3.13.7"). */
export function sourceSummary(status) {
  const name = sourceName(status.source);
  return status.state === 'ok' ? `${name}:` : `${name}: ${stateLabel(status.state)}`;
}
