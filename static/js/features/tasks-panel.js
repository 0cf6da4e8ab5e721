// The Tasks tab: recent tasks in a one-line-per-task table, found by task id or name and
// filtered by state, worker and queue (or by clicking a worker, a queue or a queue → worker
// edge on the graph while the tab is open); a click on a task opens its drill-down (timeline,
// route, arguments, result, exception and traceback); failures grouped by exception; workers,
// task names and queues.
//
// One request per refresh: GET /api/celery?include=tasks,workers,failures, every 2 s while the
// tab is open and the page is visible. With the tab closed only the summary is read, every 10 s,
// for the number on the tab (tasks failed in the last minute); with the page hidden, nothing.
// Polling rather than pushing: the tab shows filtered views a frame cannot know in advance,
// and the server keeps no state per page. Every task and worker string is shown as text.
import { clear, el, nameNode, visibleName, visibleText } from '../format.js';
import * as human from '../humane.js';
import { exceptionHeadline, failedCount, gapText, isFinished, rowNote, selectionFilter, taskQuery, timelineSteps } from '../taskview.js';
import { defaultExchangeLabel, taskStates, taskTone, terminalTaskStates } from '../vocabulary.js';

const REFRESH_MS = 2000; // the tab open
const COUNT_REFRESH_MS = 10000; // the tab closed: only its number
const TYPING_MS = 250;
const TASK_LIMIT = 100;
const INCLUDE = ['tasks', 'workers', 'failures'];
const KEPT_CHARS = 1000; // what the service keeps of args, kwargs, result and exception

async function fetchJson(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `${response.status} ${response.statusText}`);
  return body;
}

/** A name in a one-line cell: the whole name as its tooltip. */
function cellName(value, empty = '') {
  if (value === null || value === undefined || value === '') return el('span', { class: 'muted', text: empty });
  const node = nameNode(value);
  node.title = visibleName(value);
  return node;
}

/** A worker's text block (traceback, arguments): its lines kept, any character that would hide or
 * reorder text within a line shown as a marker. */
function blobText(text) {
  return String(text).split('\n').map((line) => visibleText(line)).join('\n');
}

function statePill(state) {
  return el('span', { class: `state-pill tone-${taskTone(state)}`, text: state ?? 'unknown' });
}

/** The graph's node of a kind and name (the graph keys nodes by id; the page never builds ids). */
function findNode(graph, kind, name) {
  const found = graph.cy.nodes().filter((n) => n.data('kind') === kind && n.data('name') === name);
  return found.nonempty() ? found[0] : null;
}

function section(id, title, ...children) {
  return el('details', { class: 'tasks-section', open: true, id: `${id}-section` },
    el('summary', {}, el('h3', { text: title })), ...children);
}

export class TaskPanel {
  constructor(app) {
    this.app = app;
    this.filters = { search: '', state: '', worker: '', queue: '' };
    this.generation = 0; // bumped by each filter change: an older answer is not shown
    this.inFlight = false;
    this.again = false;
    this.stopped = false;
    this.openUuid = null;
    this.knownQueues = new Set();
    this.root = app.tabs.add('tasks', 'Tasks', { claims: (ele) => this.claims(ele) });
    this.root.classList.add('celery-panel');
    this.build();
    app.tabs.onShow((id) => { if (id === 'tasks') this.refresh(); });
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.refresh(); });
    app.on('select', (ele) => this.onSelect(ele));
    if (app.mode === 'definitions') {
      // A definitions file has no Celery events: nothing here could ever fill in.
      this.stopped = true;
      app.tabs.setHidden('tasks', true);
      return;
    }
    this.refresh();
  }

  // ---- building ---------------------------------------------------------------------------------------

  build() {
    const typing = () => { clearTimeout(this.typingTimer); this.typingTimer = setTimeout(() => this.setFilters({ search: this.search.value }), TYPING_MS); };
    this.search = el('input', { id: 'celery-search', type: 'search', placeholder: 'Task id or name', 'aria-label': 'Search by task id or task name', autocomplete: 'off', oninput: typing,
      onkeydown: (e) => { if (e.key === 'Enter') { clearTimeout(this.typingTimer); this.setFilters({ search: this.search.value }); } } });
    this.state = el('select', { id: 'celery-filter-state', 'aria-label': 'State', onchange: () => this.setFilters({ state: this.state.value }) },
      el('option', { value: '', text: 'any state' }), ...taskStates().map((s) => el('option', { value: s, text: s })));
    this.worker = el('select', { id: 'celery-filter-worker', 'aria-label': 'Worker', onchange: () => this.setFilters({ worker: this.worker.value }) });
    this.queue = el('select', { id: 'celery-filter-queue', 'aria-label': 'Queue', onchange: () => this.setFilters({ queue: this.queue.value }) });
    this.fillSelect(this.worker, [], 'any worker');
    this.fillSelect(this.queue, [], 'any queue');
    this.clearButton = el('button', { type: 'button', id: 'celery-clear-filters', class: 'link', hidden: true, text: 'Clear filters',
      onclick: () => { this.search.value = ''; this.setFilters({ search: '', state: '', worker: '', queue: '' }); } });
    this.gaps = el('p', { id: 'celery-gaps', class: 'muted celery-status' });
    this.tasks = el('div', { id: 'celery-tasks' });
    this.shown = el('p', { class: 'muted table-note', id: 'celery-shown' });
    this.failures = el('div', { id: 'celery-failures' });
    this.workers = el('div', { id: 'celery-workers' });
    this.names = el('div', { id: 'celery-names' });
    this.queues = el('div', { id: 'celery-queues' });
    this.list = el('div', { class: 'tasks-list' },
      this.gaps,
      el('div', { class: 'tasks-filters', role: 'search' },
        el('div', { class: 'form-row' }, this.search, this.state),
        el('div', { class: 'form-row' }, this.worker, this.queue, this.clearButton)),
      el('h3', { class: 'tasks-heading', text: 'Recent tasks' }),
      this.tasks, this.shown,
      section('celery-failures', 'Failures by exception', this.failures),
      section('celery-workers', 'Workers', this.workers),
      section('celery-names', 'By task name', this.names),
      section('celery-queues', 'Queues: sent, not yet received', this.queues));
    this.detail = el('section', { id: 'task-detail', class: 'task-detail', hidden: true, 'aria-live': 'polite' });
    this.root.append(this.list, this.detail);
    // Esc closes a task's drill-down, wherever the focus is (the Wide button, a link), but not while typing.
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || !this.openUuid || this.app.tabs.current !== 'tasks') return;
      if (['INPUT', 'SELECT', 'TEXTAREA'].includes(e.target?.tagName)) return;
      this.closeTask();
    });
  }

  fillSelect(select, values, anyText) {
    const current = select.value;
    const wanted = new Set(values);
    if (current) wanted.add(current);
    const sorted = [...wanted].sort();
    const same = select.options.length === sorted.length + 1 && sorted.every((v, i) => select.options[i + 1].value === v);
    if (same) return;
    clear(select).append(el('option', { value: '', text: anyText }), ...sorted.map((v) => el('option', { value: v, text: visibleName(v) })));
    select.value = current;
  }

  // ---- filters and the graph ----------------------------------------------------------------------------

  setFilters(changes) {
    const next = { ...this.filters, ...changes };
    if (filtersEqual(next, this.filters)) return;
    this.filters = next;
    this.state.value = next.state;
    if (next.worker) this.fillSelect(this.worker, [next.worker], 'any worker');
    if (next.queue) this.fillSelect(this.queue, [next.queue], 'any queue');
    this.worker.value = next.worker;
    this.queue.value = next.queue;
    this.clearButton.hidden = !Object.values(next).some(Boolean);
    this.generation += 1;
    clear(this.tasks).append(el('p', { class: 'muted', text: 'Looking…' }));
    this.refresh();
  }

  /** Whether a click on the graph is for this tab while it is open: a worker, a queue
   * Celery uses, or a queue → worker edge. */
  claims(ele) {
    const filter = this.filterFor(ele);
    if (!filter) return false;
    if (ele.isNode() && ele.data('kind') === 'queue') {
      const celeryQueue = this.knownQueues.has(ele.data('name')) || ele.data('default_routed') || ele.connectedEdges().some((e) => e.data('worker'));
      return Boolean(celeryQueue);
    }
    return true;
  }

  filterFor(ele) {
    if (!ele) return null;
    return ele.isEdge() ? selectionFilter(ele.data(), ele.source().data(), ele.target().data()) : selectionFilter(ele.data());
  }

  onSelect(ele) {
    if (!ele || this.app.tabs.current !== 'tasks' || !this.claims(ele)) return;
    this.closeTask();
    this.setFilters(this.filterFor(ele));
  }

  /** From elsewhere (a worker's details): open the tab on that worker's tasks. */
  showTasksOf(filter) {
    this.closeTask();
    this.app.tabs.show('tasks');
    this.setFilters({ worker: '', queue: '', ...filter });
  }

  // ---- refreshing -------------------------------------------------------------------------------------------

  schedule() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => this.refresh(), this.app.tabs.current === 'tasks' ? REFRESH_MS : COUNT_REFRESH_MS);
  }

  async refresh() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    if (document.hidden) return; // visibilitychange starts it again
    if (this.inFlight) { this.again = true; return; }
    const full = this.app.tabs.current === 'tasks';
    const generation = this.generation;
    this.inFlight = true;
    try {
      const query = full ? `?${taskQuery(this.filters, { limit: TASK_LIMIT, include: INCLUDE })}` : '';
      const body = await fetchJson(`/api/celery${query}`);
      this.apply(body, full && generation === this.generation);
      if (full && this.openUuid && !(this.lastTask?.uuid === this.openUuid && isFinished(this.lastTask, terminalTaskStates()))) {
        await this.refreshTask();
      }
    } catch (err) {
      clear(this.gaps).append(el('span', { class: 'tone-warn-text', text: `Celery data unavailable: ${err.message}. Trying again.` }));
    } finally {
      this.inFlight = false;
      if (this.again) { this.again = false; this.refresh(); } else this.schedule();
    }
  }

  apply(body, render) {
    const failed = failedCount(body.recent);
    this.app.tabs.setCount('tasks', failed.count, { title: failed.title, tone: 'bad' });
    this.failedTitle = failed.title;
    if (!body.enabled && !body.events_applied) {
      this.stopped = true; // Celery events are a start-up choice: this answer will not change
      this.renderOff();
      return;
    }
    for (const name of Object.keys(body.queues ?? {})) this.knownQueues.add(name);
    if (!render) return;
    this.renderStatus(body);
    this.renderTasks(body.tasks ?? [], body);
    this.renderFailures(body.failures);
    this.renderWorkers(body.workers ?? []);
    this.renderNames(body.task_names ?? {});
    this.renderQueues(body.queues ?? {});
    const queues = new Set([...Object.keys(body.queues ?? {}), ...(body.workers ?? []).flatMap((w) => w.queues ?? [])]);
    this.fillSelect(this.worker, (body.workers ?? []).map((w) => w.hostname), 'any worker');
    this.fillSelect(this.queue, [...queues], 'any queue');
  }

  // ---- rendering the list ---------------------------------------------------------------------------------------

  renderOff() {
    clear(this.gaps).append('Celery events are off: start the service with --broker-url amqp://… (and the workers with -E) to see tasks here.');
    clear(this.tasks);
  }

  renderStatus(body) {
    clear(this.gaps);
    const g = body.gaps ?? {};
    const lost = (g.expired ?? 0) + (g.over_limit ?? 0);
    const parts = [];
    if (lost) parts.push(`${human.counted(lost, 'event')} lost on the broker (${human.number(g.expired ?? 0)} expired, ${human.number(g.over_limit ?? 0)} over the queue limit)`);
    if (g.reconnects) parts.push(`${human.counted(g.reconnects, 'reconnect')}${g.queue_lost ? `, events during ${human.counted(g.queue_lost, 'outage')} lost` : ''}`);
    const state = body.source?.state ?? 'starting';
    this.gaps.append(el('span', { text: `Event stream: ${state}. ` }));
    if (parts.length) this.gaps.append(el('span', { class: 'tone-warn-text', id: 'celery-gap-text', text: `Gaps: ${parts.join('; ')}. ` }));
    else this.gaps.append(el('span', { text: 'No gaps. ' }));
    this.gaps.append(el('span', { id: 'celery-failed-recent', class: body.recent?.counts?.failed ? 'tone-bad-text' : '', text: `${this.failedTitle}.` }));
  }

  renderTasks(tasks, body) {
    clear(this.tasks);
    if (!tasks.length) {
      const filtered = Object.values(this.filters).some(Boolean);
      this.tasks.append(el('p', { class: 'empty', text: filtered ? 'No task matches these filters among the tasks kept.' : 'No task seen yet.' }));
      this.shown.textContent = '';
      return;
    }
    const head = el('tr', {},
      el('th', { class: 'col-when', text: 'Time' }), el('th', { class: 'col-task', text: 'Task' }),
      el('th', { class: 'col-state', text: 'State' }), el('th', { class: 'col-worker', text: 'Worker' }),
      el('th', { class: 'col-queue', text: 'Queue' }), el('th', { class: 'col-runtime', text: 'Runtime' }),
      el('th', { class: 'col-note', text: 'Error', title: 'a failed task\'s exception (first line), or how often it was retried' }));
    const rows = tasks.map((t) => {
      const note = rowNote(t);
      return el('tr', { class: 'task-row', tabindex: 0, dataset: { uuid: t.uuid, state: t.state ?? '', tone: taskTone(t.state) },
        title: `Open task ${t.uuid}`, onclick: () => this.openTask(t.uuid),
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.openTask(t.uuid); } } },
      el('td', { class: 'col-when', text: human.clockTime(t.updated) }),
      el('td', { class: 'col-task' }, cellName(t.name, '(name not known yet)')),
      el('td', { class: 'col-state' }, statePill(t.state)),
      el('td', { class: 'col-worker' }, cellName(t.worker, '–')),
      el('td', { class: 'col-queue' }, cellName(t.queue, '–')),
      el('td', { class: 'col-runtime', text: t.runtime === null || t.runtime === undefined ? '–' : human.duration(t.runtime) }),
      el('td', { class: `col-note${t.exception ? ' tone-bad-text' : ''}`, title: visibleText(t.exception ?? ''), text: visibleText(note) }));
    });
    // No row with an error or a retry: the column gives its room to the task names.
    const notes = tasks.some((t) => rowNote(t));
    this.tasks.append(el('table', { class: `tasks-table${notes ? '' : ' no-notes'}`, id: 'celery-tasks-table' }, el('thead', {}, head), el('tbody', {}, ...rows)));
    const more = tasks.length >= TASK_LIMIT ? `the ${human.number(tasks.length)} most recent` : human.counted(tasks.length, 'task');
    this.shown.textContent = `Showing ${more}, newest first, of ${human.number(body.tasks_kept)} kept (up to ${human.number(body.tasks_limit)}). Click a task for its details.`;
  }

  renderFailures(failures) {
    clear(this.failures);
    if (!failures?.groups?.length) {
      this.failures.append(el('p', { class: 'empty', text: 'No failed task among those kept.' }));
      return;
    }
    const list = el('ul', { class: 'list failure-groups' });
    for (const g of failures.groups) {
      const tasks = g.tasks.map((uuid) => el('button', { type: 'button', class: 'link task-link', title: `Open task ${uuid}`, text: uuid.slice(0, 8), onclick: () => this.openTask(uuid) }));
      list.append(el('li', { class: 'failure-group', dataset: { type: g.type } },
        el('div', { class: 'failure-head' },
          el('strong', {}, nameNode(g.type)),
          el('span', { class: 'pill tone-bad', title: `${human.counted(g.count, 'failure')} with this exception`, text: `× ${human.number(g.count)}` }),
          el('span', { class: 'muted', text: `last ${human.ago(g.last_seen)}` })),
        el('div', { class: 'failure-message', title: visibleText(g.message), text: g.message ? visibleText(exceptionHeadline(g.message)) : '(no message)' }),
        el('div', { class: 'muted failure-where' },
          'in ', ...g.names.flatMap((n, i) => (i ? [', ', nameNode(n)] : [nameNode(n)])),
          g.workers.length ? ' on ' : '', ...g.workers.flatMap((w, i) => (i ? [', ', nameNode(w)] : [nameNode(w)]))),
        el('div', { class: 'failure-tasks' }, el('span', { class: 'muted', text: 'tasks: ' }), ...tasks)));
    }
    const more = failures.groups_total > failures.groups.length ? ` (the ${failures.groups.length} most recent of ${human.number(failures.groups_total)} kinds)` : '';
    this.failures.append(el('p', { class: 'muted table-note', text: `${human.counted(failures.failed, 'failed task')} among the ${human.number(failures.tasks_kept)} kept${more}.` }), list);
  }

  renderWorkers(workers) {
    clear(this.workers);
    if (!workers.length) { this.workers.append(el('p', { class: 'empty', text: 'No worker seen yet.' })); return; }
    const rows = workers.map((w) => el('tr', { class: 'worker-row', tabindex: 0, dataset: { worker: w.hostname }, title: `Show ${visibleName(w.hostname)}'s tasks`,
      onclick: () => this.pickWorker(w.hostname), onkeydown: (e) => { if (e.key === 'Enter') this.pickWorker(w.hostname); } },
    el('td', { class: 'col-task' }, cellName(w.hostname)),
    el('td', { class: 'col-state' }, el('span', { class: `state-pill tone-${w.online ? 'ok' : 'off'}`, text: w.online ? 'online' : 'offline' })),
    el('td', { class: 'num', text: human.number(w.active ?? 0) }),
    el('td', { class: 'num', text: human.number(w.processed ?? 0) }),
    el('td', { class: `num${w.failed ? ' tone-bad-text' : ''}`, text: human.number(w.failed ?? 0) }),
    el('td', { class: 'num', text: human.number(w.retried ?? 0) }),
    el('td', { class: 'col-queues', title: (w.queues ?? []).map(visibleName).join(', ') }, ...(w.queues ?? []).flatMap((q, i) => (i ? [', ', nameNode(q)] : [nameNode(q)])))));
    this.workers.append(el('table', { class: 'tasks-table workers-table' },
      el('thead', {}, el('tr', {}, ...[['col-task', 'Worker'], ['col-state', 'State'], ['num', 'Running'], ['num', 'Done'], ['num', 'Failed'], ['num', 'Retried'], ['col-queues', 'Queues']]
        .map(([cls, h]) => el('th', { class: cls, text: h })))),
      el('tbody', {}, ...rows)));
  }

  pickWorker(hostname) {
    this.setFilters({ worker: hostname, queue: '' });
    const node = findNode(this.app.graph, 'worker', hostname);
    if (node) this.app.graph.focus(node.id());
    this.tasks.scrollIntoView?.({ block: 'nearest' });
  }

  renderNames(names) {
    clear(this.names);
    const entries = Object.entries(names);
    if (!entries.length) { this.names.append(el('p', { class: 'empty', text: 'No task seen yet.' })); return; }
    const ms = (s) => (s === null || s === undefined ? '–' : human.duration(s));
    const rows = entries.map(([name, s]) => el('tr', {},
      el('td', { class: 'col-task' }, cellName(name)),
      el('td', { class: 'num', text: human.number(s.counts.sent) }),
      el('td', { class: 'num', text: human.number(s.counts.succeeded) }),
      el('td', { class: `num${s.counts.failed ? ' tone-bad-text' : ''}`, text: human.number(s.counts.failed) }),
      el('td', { class: 'num', text: human.number(s.counts.retried) }),
      el('td', { class: 'num', text: human.perSecond(s.rates.succeeded ?? 0, 'task') }),
      el('td', { class: 'num col-runtime', text: s.runtime ? `${ms(s.runtime.p50)} / ${ms(s.runtime.p90)}` : '–' })));
    this.names.append(el('table', { class: 'tasks-table names-table' },
      el('thead', {}, el('tr', {}, ...[['col-task', 'Task', ''], ['num', 'Sent', ''], ['num', 'OK', 'succeeded'], ['num', 'Failed', ''], ['num', 'Retried', ''],
        ['num', 'OK rate', 'succeeded a second over the last minute'], ['num col-runtime', 'p50 / p90', 'runtime percentiles of recent successes']]
        .map(([cls, h, title]) => el('th', { class: cls, text: h, title })))),
      el('tbody', {}, ...rows)));
  }

  renderQueues(queues) {
    clear(this.queues);
    const entries = Object.entries(queues);
    if (!entries.length) { this.queues.append(el('p', { class: 'empty', text: 'No task seen sent yet.' })); return; }
    const rows = entries.map(([name, q]) => {
      const node = findNode(this.app.graph, 'queue', name);
      const ready = node ? node.data('messages_ready') : null;
      return el('tr', {}, el('td', { class: 'col-task' }, cellName(name)), el('td', { class: 'num', text: human.number(q.sent_not_received) }),
        el('td', { class: 'num', text: ready === null || ready === undefined ? '–' : human.number(ready) }));
    });
    this.queues.append(el('table', { class: 'tasks-table queues-table' },
      el('thead', {}, el('tr', {}, el('th', { class: 'col-task', text: 'Queue' }),
        el('th', { class: 'num', text: 'Waiting', title: 'tasks sent to it that no worker has received yet (from Celery events)' }),
        el('th', { class: 'num', text: 'Ready', title: 'ready messages, as the broker counts them' }))),
      el('tbody', {}, ...rows)));
  }

  // ---- one task ---------------------------------------------------------------------------------------------

  async openTask(uuid) {
    this.openUuid = uuid;
    this.list.hidden = true;
    this.detail.hidden = false;
    clear(this.detail).append(this.backButton(), el('p', { class: 'muted', text: 'Loading…' }));
    await this.refreshTask();
    this.detail.querySelector('.back')?.focus();
  }

  closeTask() {
    if (!this.openUuid) return;
    const uuid = this.openUuid;
    this.openUuid = null;
    this.detail.hidden = true;
    clear(this.detail);
    this.list.hidden = false;
    this.tasks.querySelector(`tr[data-uuid="${CSS.escape(uuid)}"]`)?.focus();
  }

  backButton() {
    return el('button', { type: 'button', class: 'back', text: '← All tasks', title: 'Back to the list (Esc)', onclick: () => this.closeTask() });
  }

  async refreshTask() {
    const uuid = this.openUuid;
    if (!uuid) return;
    let task;
    try {
      task = await fetchJson(`/api/tasks/${encodeURIComponent(uuid)}`);
    } catch (err) {
      if (this.openUuid === uuid) clear(this.detail).append(this.backButton(), el('p', { class: 'tone-warn-text', text: `Task ${uuid}: ${err.message}` }));
      return;
    }
    if (this.openUuid !== uuid) return; // another task was opened meanwhile
    this.lastTask = task;
    clear(this.detail).append(...this.renderTask(task));
  }

  renderTask(t) {
    const link = (kind, name) => {
      const node = findNode(this.app.graph, kind, name);
      if (!node) return nameNode(name);
      return el('button', { type: 'button', class: 'link', title: `Show it on the graph`, onclick: () => { this.app.showElement(node.id()); } }, nameNode(name));
    };
    const taskLink = (uuid) => (uuid && uuid !== t.uuid
      ? el('button', { type: 'button', class: 'link mono', text: uuid, onclick: () => this.openTask(uuid) })
      : el('span', { class: 'muted', text: uuid ? 'itself' : 'none' }));
    const rows = [
      ['Task id', el('code', { class: 'uuid', text: t.uuid })],
      ['Worker', t.worker ? link('worker', t.worker) : el('span', { class: 'muted', text: 'not received by a worker yet' })],
      ['Queue', t.queue ? link('queue', t.queue) : el('span', { class: 'muted', text: 'not reported' })],
      ['Exchange', t.exchange === null || t.exchange === undefined ? el('span', { class: 'muted', text: 'not reported' }) : t.exchange === '' ? defaultExchangeLabel() : nameNode(t.exchange)],
      ['Routing key', t.routing_key === null || t.routing_key === undefined ? el('span', { class: 'muted', text: 'not reported' }) : nameNode(t.routing_key)],
      ['Runtime', runtimeOf(t)],
      ['Retries', human.number(t.retries ?? 0)],
      ['Parent task', taskLink(t.parent_id)],
      ['Root task', taskLink(t.root_id)],
    ];
    const parts = [
      this.backButton(),
      el('div', { class: 'kind', text: 'Celery task' }),
      el('h2', { class: 'task-title' }, t.name ? nameNode(t.name) : '(name not known yet)'),
      el('p', { class: 'task-state' }, statePill(t.state), ' ', el('span', { class: 'muted', text: t.updated ? `last heard of ${human.ago(t.updated)}` : '' })),
      this.timeline(t.timeline),
      el('table', { class: 'kv fields task-fields' }, ...rows.map(([label, value]) => el('tr', {}, el('th', { text: label }), el('td', {}, value)))),
    ];
    if (t.exception) {
      parts.push(el('h3', { text: 'Exception' }), el('pre', { class: 'blob exception', id: 'task-exception', text: blobText(t.exception) }));
    }
    if (t.traceback) {
      parts.push(el('h3', { text: 'Traceback' }), el('pre', { class: 'blob traceback', id: 'task-traceback', tabindex: 0, text: blobText(t.traceback) }));
    }
    for (const [label, value, id] of [['Arguments', t.args, 'task-args'], ['Keyword arguments', t.kwargs, 'task-kwargs'], ['Result', t.result, 'task-result']]) {
      if (value === null || value === undefined) continue;
      parts.push(el('h3', { text: label }), el('pre', { class: 'blob', id, text: blobText(value) }));
    }
    parts.push(el('p', { class: 'muted table-note', text: `Arguments, result and exception as Celery reported them (its own repr, which it shortens), kept to ${human.number(KEPT_CHARS)} characters; times are the sender's clock.` }));
    return parts;
  }

  timeline(timeline) {
    const steps = timelineSteps(timeline);
    if (!steps.length) return el('p', { class: 'muted', text: 'No state change seen yet.' });
    const list = el('ol', { class: 'timeline', id: 'task-timeline', 'aria-label': 'What happened to the task, in order' });
    for (const step of steps) {
      list.append(el('li', { dataset: { state: step.state, tone: taskTone(step.state) } },
        el('span', { class: 'step-dot', 'aria-hidden': 'true' }),
        el('span', { class: 'step-state', text: step.state }),
        el('span', { class: 'step-time', text: human.clockTime(step.time, { ms: true }) }),
        el('span', { class: 'step-gap muted', text: gapText(step.gap) })));
    }
    const total = steps[steps.length - 1].total;
    return el('div', { class: 'timeline-box' }, el('h3', { text: 'Timeline' }), list,
      steps.length > 1 && total > 0 ? el('p', { class: 'muted table-note', text: `${human.duration(total)} from the first step to the last.` }) : null);
  }
}

/** Celery reports a runtime with success only: for a task that ended otherwise, the time from
 * started to its end, as its events' timestamps tell it. */
function runtimeOf(t) {
  if (typeof t.runtime === 'number') return human.duration(t.runtime);
  if (!isFinished(t, terminalTaskStates())) return el('span', { class: 'muted', text: 'still running, or not started' });
  if (typeof t.started === 'number' && typeof t.finished === 'number') {
    return el('span', { title: `Celery reports a runtime for successes only: this is the time from started to ${t.state}, by the events' timestamps` },
      `${human.duration(t.finished - t.started)} (started → ${t.state})`);
  }
  return el('span', { class: 'muted', text: 'not reported' });
}

function filtersEqual(a, b) {
  return ['search', 'state', 'worker', 'queue'].every((k) => (a[k] ?? '') === (b[k] ?? ''));
}

/** A section of the Details tab for a worker, a Celery queue or a queue → worker edge: a button
 * that opens the Tasks tab on the tasks it ran or carried. */
export function taskDetailsSection(panel, ele) {
  if (panel.stopped || !panel.claims(ele)) return null;
  const filter = panel.filterFor(ele);
  const what = filter.worker && filter.queue ? 'tasks taken from this queue by this worker'
    : filter.worker ? 'tasks this worker received' : 'tasks sent to this queue';
  return el('section', { class: 'details-section task-shortcut' },
    el('button', { type: 'button', class: 'show-tasks', text: `Show the ${what} →`, onclick: () => panel.showTasksOf(filter) }));
}
