// "Where does this message go?": a panel that routes a message (POST /api/route) or a Celery
// task (GET /api/celery/route, with --celery-app) through the live topology, lights its path on
// the graph, lists the queues with the server's reasons and shows the server's explanation of
// any clicked edge. It asks again only when the topology changes in a way that can change the
// answer (the patch says so), and shows an answer only while it belongs to the question on
// screen: a newer question, an edited form or Clear makes any pending answer stale. Asking
// again is immediate, not delayed: with no timer there is nothing for Clear to miss, and the
// hub sends at most one patch per vhost per read.
// Broker-supplied names only ever reach the page as text (format.el / textContent).
import {
  HEADER_TYPES, Tickets, explanationFor, implicitQueues, readHeaders, statusWords,
} from './route-logic.js';

const DEMO_EXAMPLE = { exchange: 'events', routing_key: 'alert.cpu.high' };

async function answerOf(response) {
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error ?? `the server answered ${response.status}`);
  if (!body) throw new Error('the server\'s answer was not JSON');
  return body;
}

class RoutePanel {
  constructor(app) {
    this.app = app;
    this.f = app.format;
    this.tickets = new Tickets();
    this.question = null; // the question the shown answer (or error) belongs to, asked again on routing changes
    this.answer = null; // the route answer on screen
    this.prefilled = false;
    this.celeryRoutes = document.body.dataset.celeryRoutes === 'yes';
    this.root = app.tabs.add('route', 'Route', { claims: (ele) => this.explains(ele) });
    this.root.classList.add('route-panel');
    this.build();
  }

  // ---- the form ----------------------------------------------------------------------------------

  build() {
    const { el } = this.f;
    this.exchange = el('select', { id: 'route-exchange', 'aria-label': 'Exchange' });
    this.key = el('input', { id: 'route-key', type: 'text', placeholder: 'routing key', autocomplete: 'off', 'aria-label': 'Routing key' });
    this.headerRows = el('div', { id: 'route-headers' });
    const addHeader = el('button', { type: 'button', id: 'route-add-header', onclick: () => { this.addHeaderRow(); this.questionChanged(); } }, '+ header');
    const submit = el('button', { type: 'submit', id: 'route-submit' }, 'Route');
    const clear = el('button', { type: 'button', id: 'route-clear', onclick: () => this.clear() }, 'Clear');
    this.form = el('form', { id: 'route-form', onsubmit: (e) => { e.preventDefault(); this.askForm(); } },
      el('p', { class: 'muted', text: 'Where does a message go? Pick an exchange, a routing key and headers.' }),
      el('div', { class: 'form-row' }, el('label', { for: 'route-exchange', text: 'Exchange' }), this.exchange),
      el('div', { class: 'form-row' }, el('label', { for: 'route-key', text: 'Routing key' }), this.key),
      this.headerRows,
      el('div', { class: 'form-row' }, addHeader, submit, clear));
    // Any edit by the user is a new question: the answer on screen no longer belongs to it.
    // ('input' only: a text field's 'change' also fires on leaving it, after the answer came.)
    this.form.addEventListener('input', () => this.questionChanged());
    this.summary = el('div', { id: 'route-summary', role: 'status' });
    this.queues = el('ul', { id: 'route-queues', class: 'list' });
    this.exchanges = el('ul', { id: 'route-exchanges', class: 'list' });
    this.explainBox = el('div', { id: 'route-explain' });
    if (this.celeryRoutes) this.root.append(this.buildTaskPicker());
    this.root.append(this.form, this.summary, this.queues, this.exchanges, this.explainBox);
  }

  /** With --celery-app: where Celery sends each task, and the exchanges it declares but never uses. */
  buildTaskPicker() {
    const { el } = this.f;
    this.task = el('select', { id: 'route-task', 'aria-label': 'Celery task',
      onchange: () => (this.task.value ? this.askTask(this.task.value) : this.clear()) });
    this.taskNotes = el('ul', { id: 'route-task-notes', class: 'list route-notes' });
    this.taskNotesTitle = el('summary', {});
    this.taskNotesBox = el('details', { class: 'route-notes-box', hidden: true }, this.taskNotesTitle, this.taskNotes);
    return el('section', { class: 'route-task' },
      el('div', { class: 'form-row' }, el('label', { for: 'route-task', text: 'Celery task' }), this.task),
      this.taskNotesBox);
  }

  addHeaderRow(name = '', type = 'string', value = '') {
    const { el } = this.f;
    const typeSelect = el('select', { class: 'route-header-type', 'aria-label': 'Header type' },
      HEADER_TYPES.map((t) => el('option', { value: t, text: t })));
    typeSelect.value = type;
    const row = el('div', { class: 'form-row route-header' },
      el('input', { class: 'route-header-name', type: 'text', placeholder: 'name', value: name, 'aria-label': 'Header name' }),
      typeSelect,
      el('input', { class: 'route-header-value', type: 'text', placeholder: 'value', value: String(value), 'aria-label': 'Header value' }),
      el('button', { type: 'button', title: 'Remove this header', 'aria-label': 'Remove header', onclick: () => { row.remove(); this.questionChanged(); } }, '×'));
    this.headerRows.append(row);
    return row;
  }

  formHeaders() {
    return readHeaders([...this.headerRows.querySelectorAll('.route-header')].map((row) => ({
      name: row.querySelector('.route-header-name').value,
      type: row.querySelector('.route-header-type').value,
      value: row.querySelector('.route-header-value').value,
    })));
  }

  /** Keep the exchange list in step with the graph; the default exchange is always offered. */
  syncExchanges() {
    const { el } = this.f;
    const names = this.app.graph.cy.nodes().filter((n) => n.data('kind') === 'exchange' && !n.data('missing'))
      .map((n) => n.data('name')).sort();
    if (!names.includes('')) names.unshift('');
    const current = this.exchange.value;
    const shown = [...this.exchange.options].map((o) => o.value);
    if (shown.length === names.length && shown.every((v, i) => v === names[i])) return;
    this.f.clear(this.exchange);
    names.forEach((name) => this.exchange.append(el('option', { value: name, text: name === '' ? this.f.DEFAULT_EXCHANGE_LABEL : this.f.visibleName(name) })));
    if (names.includes(current)) this.exchange.value = current;
  }

  // ---- asking --------------------------------------------------------------------------------------

  askForm() {
    let body;
    try {
      body = { vhost: this.app.vhost, exchange: this.exchange.value, routing_key: this.key.value, headers: this.formHeaders() };
    } catch (err) {
      this.forget(); // a question that cannot be asked: nothing pending may land under it
      this.showError(err.message);
      return;
    }
    if (this.task) this.task.value = '';
    this.send({ kind: 'message', body });
  }

  askTask(name) {
    this.send({ kind: 'task', task: name, vhost: this.app.vhost });
  }

  /** Ask (again, when `again`: the answer on screen stays until the new one arrives). */
  async send(question, { again = false } = {}) {
    this.question = question;
    const ticket = this.tickets.take();
    if (!again) this.showAsking();
    let answer;
    try {
      answer = await this.fetchAnswer(question);
    } catch (err) {
      if (this.tickets.holds(ticket)) this.showError(err.message === 'Failed to fetch' ? 'the server did not answer' : err.message);
      return;
    }
    if (this.tickets.holds(ticket)) this.show(question, answer);
  }

  async fetchAnswer(question) {
    if (question.kind === 'task') {
      const query = new URLSearchParams({ task: question.task, vhost: question.vhost });
      return answerOf(await fetch(`/api/celery/route?${query}`));
    }
    return answerOf(await fetch('/api/route', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(question.body),
    }));
  }

  /** The topology changed where routing is concerned: ask the same question again. */
  reask() {
    if (this.question) this.send(this.question, { again: true });
  }

  /** No question is pending or to be asked again; any answer still on its way is dropped. */
  forget() {
    this.tickets.void();
    this.question = null;
  }

  /** The user edited the form: the answer on screen answered another question. */
  questionChanged() {
    if (!this.question && !this.answer && !this.summary.firstChild) return;
    this.forget();
    if (this.task) this.task.value = '';
    this.showNothing();
    this.summary.append(this.f.el('p', { class: 'muted route-hint', text: 'Press Route to ask this question.' }));
  }

  clear() {
    this.forget();
    if (this.task) this.task.value = '';
    this.explained = null;
    this.showNothing();
  }

  // ---- showing -------------------------------------------------------------------------------------

  showNothing() {
    this.answer = null;
    this.fingerprint = null;
    this.app.graph.showRouteImplicit([]);
    this.app.graph.clearHighlight();
    [this.summary, this.queues, this.exchanges, this.explainBox].forEach((n) => this.f.clear(n));
  }

  showAsking() {
    this.showNothing();
    this.summary.append(this.f.el('p', { class: 'muted route-hint', text: 'Asking…' }));
  }

  showError(message) {
    this.showNothing();
    this.summary.append(this.f.el('p', { class: 'route-error', role: 'alert' },
      this.f.el('span', { class: 'pill tone-bad', text: 'error' }), ' ', this.f.visibleText(message)));
  }

  show(question, answer) {
    const fingerprint = JSON.stringify({ ...answer, version: 0 });
    if (fingerprint === this.fingerprint) return; // the same answer again: keep the page still
    this.showNothing();
    this.fingerprint = fingerprint;
    if (question.kind === 'task') this.showTask(answer);
    else this.showRoute(answer);
  }

  showTask(answer) {
    const { el, nameNode } = this.f;
    const exchange = answer.exchange === '' ? this.f.DEFAULT_EXCHANGE_LABEL : answer.exchange;
    const where = answer.exchange === null || answer.exchange === undefined ? [' has no route'] : [
      ' is published to exchange ', nameNode(exchange ?? ''), ' with routing key ', nameNode(answer.routing_key ?? ''),
      ...(answer.queue ? [' (Celery names queue ', nameNode(answer.queue), ')'] : [])];
    this.summary.append(el('p', { id: 'route-task-summary' }, 'Task ', nameNode(answer.task), ...where, '.'));
    if (!answer.registered) this.summary.append(el('p', { class: 'muted', text: 'Not registered with the app: routed as Celery would route an unknown name.' }));
    if (answer.error) this.summary.append(el('p', { class: 'route-error' }, el('span', { class: 'pill tone-bad', text: 'error' }), ' ', this.f.visibleText(answer.error)));
    if (answer.problem) this.summary.append(el('p', { class: 'route-error' }, el('span', { class: 'pill tone-warn', text: 'problem' }), ' ', this.f.visibleText(answer.problem)));
    if (answer.route) this.showRoute(answer.route, { keepSummary: true });
  }

  showRoute(result, { keepSummary = false } = {}) {
    const { el, nameNode } = this.f;
    this.answer = result;
    if (!keepSummary) this.f.clear(this.summary);
    const words = statusWords(result.status);
    this.summary.append(el('p', { id: 'route-status' },
      el('span', { class: `pill tone-${words.tone ?? ''}`, text: words.label }), ' ', this.f.visibleText(result.message)));
    for (const [exchange, candidates] of Object.entries(result.one_of ?? {})) {
      const listed = candidates.flatMap((queue, i) => (i ? [', ', nameNode(queue)] : [nameNode(queue)]));
      this.summary.append(el('p', { class: 'muted' }, nameNode(exchange), ': one of ', ...listed));
    }
    if (result.semantics?.description) this.summary.append(el('p', { class: 'muted route-rules', text: result.semantics.description }));
    const queueIds = new Map((result.hops ?? []).filter((h) => h.to_kind === 'queue').map((h) => [h.to, h.to_id]));
    for (const queue of result.queues) {
      const reasons = result.reasons?.[queue] ?? [];
      this.queues.append(el('li', { dataset: { queue } },
        el('button', { type: 'button', class: 'link', onclick: () => this.app.showElement(queueIds.get(queue)) }, nameNode(queue)),
        ...reasons.map((r) => el('div', { class: 'muted', text: this.f.visibleText(r) }))));
    }
    for (const ex of result.exchanges ?? []) {
      const label = ex.name === '' ? this.f.DEFAULT_EXCHANGE_LABEL : ex.name;
      this.exchanges.append(el('li', {},
        el('span', { class: 'pill', text: ex.type }), ' ', el('strong', {}, nameNode(label)), ': ', this.f.visibleText(ex.outcome)));
    }
    this.explainBox.append(el('p', { class: 'muted', text: 'Click a binding on the graph to see why it did or did not carry this message.' }));
    this.app.graph.showRouteImplicit(implicitQueues(result));
    this.app.graph.highlight(result.path ?? [], { dimOthers: true });
    const explained = this.explained && this.app.graph.element(this.explained);
    if (explained) this.explain(explained);
  }

  /** Whether the answer on screen explains this graph element (the Route tab then keeps a click). */
  explains(ele) {
    return Boolean(ele?.isEdge?.() && explanationFor(this.answer, ele.id(), ele.source().id()));
  }

  /** Why a clicked edge did or did not carry this message, in the server's words. */
  explain(ele) {
    if (!this.explains(ele)) return;
    const found = explanationFor(this.answer, ele.id(), ele.source().id());
    this.explained = ele.id();
    this.f.clear(this.explainBox).append(this.f.el('p', { id: 'route-explain-text', class: found.carried ? 'route-carried' : '' },
      this.f.el('strong', { text: `${found.label}:` }), ' ', this.f.visibleText(found.reason)));
  }

  // ---- Celery tasks ----------------------------------------------------------------------------------

  async loadTasks() {
    if (!this.task || !this.app.vhost) return;
    const { el, nameNode } = this.f;
    const vhost = this.app.vhost;
    let body;
    try {
      body = await answerOf(await fetch(`/api/celery/tasks?${new URLSearchParams({ vhost })}`));
    } catch (err) {
      this.f.clear(this.taskNotes).append(el('li', { class: 'route-error', text: this.f.visibleText(err.message) }));
      this.taskNotesTitle.textContent = 'Celery task routes are unavailable';
      this.taskNotesBox.hidden = false;
      this.taskNotesBox.open = true;
      return;
    }
    if (vhost !== this.app.vhost) return;
    const picked = this.task.value;
    this.f.clear(this.task).append(el('option', { value: '', text: `Pick one of ${body.tasks.length} task(s)…` }),
      ...body.tasks.map((t) => el('option', { value: t.task, text: this.f.visibleName(t.task) })));
    if (body.tasks.some((t) => t.task === picked)) this.task.value = picked;
    const unused = body.unused_exchanges ?? [];
    this.taskNotesTitle.textContent = `${unused.length} exchange${unused.length === 1 ? '' : 's'} Celery declares but never publishes through`;
    this.taskNotesBox.hidden = !unused.length;
    this.f.clear(this.taskNotes).append(...unused.map((entry) => el('li', { class: 'route-unused' },
      el('button', { type: 'button', class: 'link', title: 'Show it on the graph', onclick: () => this.app.showElement(entry.node) },
        nameNode(entry.exchange)),
      el('div', { class: 'muted', text: this.f.visibleText(entry.note) }))));
  }

  /** The demo opens with an example that crosses an exchange-to-exchange binding into a fanout. */
  prefillDemo() {
    if (this.prefilled || this.app.mode !== 'demo') return false;
    if (![...this.exchange.options].some((o) => o.value === DEMO_EXAMPLE.exchange)) return false;
    this.prefilled = true;
    this.exchange.value = DEMO_EXAMPLE.exchange;
    this.key.value = DEMO_EXAMPLE.routing_key;
    this.app.tabs.show('route');
    this.askForm();
    return true;
  }
}

export function install(app) {
  const panel = new RoutePanel(app);
  app.route = panel;
  let tasksLoaded = false;
  let known = null; // the newest topology version whose routing the answer on screen reflects
  const onSnapshot = (msg) => {
    panel.syncExchanges();
    if (!tasksLoaded) { tasksLoaded = true; panel.loadTasks(); }
    // A snapshot of a version already seen (a second subscription, a reconnect) changes nothing.
    if (!panel.prefillDemo() && msg?.version !== known) panel.reask();
    known = msg?.version ?? null;
  };
  app.on('snapshot', onSnapshot);
  // Features load after the stream starts: a snapshot may already be on the graph.
  if (app.stream.version !== null && app.stream.version !== undefined) onSnapshot({ version: app.stream.version });
  // Depths, rates and workers change all the time; routing answers only when the server says
  // the patch can change where messages go.
  app.on('patch', (msg) => {
    known = msg.to;
    if (msg.routing) { panel.syncExchanges(); panel.reask(); }
  });
  app.on('vhost', () => { panel.clear(); tasksLoaded = false; known = null; });
  app.on('select', (ele) => panel.explain(ele));
}
