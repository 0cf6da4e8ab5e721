// The view in the page's address: vhost, the selected node, the route question, the Tasks tab's
// filter, the trace's filter and the moment shown (`at`, absent while live). Reading and
// writing the query string only: features/sharing.js collects the view and restores it.

/** Each part of the view and its name in the query string. */
export const PARAMS = {
  vhost: 'vhost',
  at: 'at',
  node: 'node',
  routeExchange: 'route_exchange',
  routeKey: 'route_key',
  routeTask: 'route_task',
  taskSearch: 'task_search',
  taskState: 'task_state',
  traceExchange: 'trace_exchange',
  traceQueue: 'trace_queue',
};

const MAX_VALUE = 2048; // longer than any name the broker allows; a longer value is not ours
const MAY_BE_EMPTY = new Set(['routeExchange', 'routeKey']); // the default exchange, an empty key

/** The view a query string asks for: only the parts it carries, as strings (`at` a number). */
export function readView(search) {
  const params = new URLSearchParams(search);
  const view = {};
  for (const [part, name] of Object.entries(PARAMS)) {
    const value = params.get(name);
    if (value === null || value.length > MAX_VALUE) continue;
    if (part === 'at') {
      const t = Number(value);
      if (value.trim() !== '' && Number.isFinite(t) && t > 0) view.at = t;
    } else if (MAY_BE_EMPTY.has(part) || value !== '') {
      view[part] = value;
    }
  }
  if (view.routeKey !== undefined && view.routeExchange === undefined) delete view.routeKey;
  return view;
}

/** The query string for a view; the address's other parameters are kept, the view's own
 * replaced (a part that is absent is removed). */
export function writeView(search, view) {
  const params = new URLSearchParams(search);
  for (const [part, name] of Object.entries(PARAMS)) {
    const value = view[part];
    if (value === undefined || value === null || (value === '' && !MAY_BE_EMPTY.has(part))) params.delete(name);
    else params.set(name, part === 'at' ? String(Math.round(Number(value) * 1000) / 1000) : String(value));
  }
  if (view.routeExchange === undefined || view.routeExchange === null) params.delete(PARAMS.routeKey);
  const text = params.toString();
  return text ? `?${text}` : '';
}
