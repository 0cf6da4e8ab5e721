// The Tasks tab's own logic, pure (no DOM): the query a refresh sends, what a graph selection
// filters by, a task's timeline with the time between its steps, the one-line note of a row,
// and the words for the number on the tab.
import { counted, duration } from './humane.js';

export const FILTER_KEYS = ['search', 'state', 'worker', 'queue'];

/** The query string of one refresh: only the filters that are set, trimmed. */
export function taskQuery(filters, { limit, include = [] } = {}) {
  const params = new URLSearchParams();
  if (include.length) params.set('include', include.join(','));
  if (limit) params.set('limit', String(limit));
  for (const key of FILTER_KEYS) {
    const value = String(filters?.[key] ?? '').trim();
    if (value) params.set(key, value);
  }
  return params.toString();
}

/** What a click on the graph asks the task list for: a worker's tasks, a queue's, or the tasks
 * a queue → worker edge carried. Null for anything else. Takes plain element data. */
export function selectionFilter(data, source = null, target = null) {
  if (!data) return null;
  if (data.kind === 'worker') return { worker: data.name, queue: '' };
  if (data.kind === 'queue') return { queue: data.name, worker: '' };
  if (data.worker && source?.kind === 'queue' && target?.kind === 'worker') {
    return { queue: source.name, worker: target.name };
  }
  return null;
}

/** A task's state changes in order, each with the time since the one before and since the first. */
export function timelineSteps(timeline) {
  const steps = Array.isArray(timeline) ? timeline.filter((s) => s && typeof s.time === 'number') : [];
  const first = steps.length ? steps[0].time : null;
  return steps.map((step, i) => ({
    state: step.state,
    time: step.time,
    gap: i === 0 ? null : step.time - steps[i - 1].time,
    total: step.time - first,
  }));
}

/** "+12 ms" for the time between two steps (a clock behind another can make it negative). */
export function gapText(seconds) {
  if (seconds === null || seconds === undefined) return '';
  return seconds < 0 ? `−${duration(-seconds)} (clocks differ)` : `+${duration(seconds)}`;
}

/** The first line of an exception, spaces collapsed: what a one-line row shows of it. */
export function exceptionHeadline(exception) {
  const text = String(exception ?? '').trim();
  if (!text) return '';
  return text.split('\n')[0].replace(/\s+/g, ' ');
}

/** A row's note: its exception's first line, else its retries, else its runtime. */
export function rowNote(task) {
  if (task.exception) return exceptionHeadline(task.exception);
  if (task.retries) return counted(task.retries, 'retry', 'retries');
  return '';
}

/** The Tasks tab's number and what it means, for its tooltip. */
export function failedCount(recent) {
  const n = Number(recent?.counts?.failed ?? 0);
  const window = Number(recent?.window ?? 60);
  const span = window === 60 ? 'the last minute' : `the last ${duration(window)}`;
  return {
    count: n,
    title: n ? `${counted(n, 'task')} failed in ${span}` : `No task failed in ${span}`,
  };
}

/** Whether a task can still change (the drill-down keeps asking while it can). */
export function isFinished(task, terminal) {
  return terminal.includes(task?.state);
}
