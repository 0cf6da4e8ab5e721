// "Where does this message go?": a panel that routes a message through the live topology
// (POST /api/route), highlights its path on the graph, lists the queues with reasons,
// explains any clicked binding, and re-asks whenever the topology changes.
// Broker-supplied names only ever reach the page as text (format.el / textContent).

const HEADER_TYPES = ['string', 'integer', 'float', 'boolean'];
const DEMO_EXAMPLE = { exchange: 'events', routing_key: 'alert.cpu.high' };
const REASK_DELAY_MS = 300;

/** A typed header's value as JSON wants it, or throws with a message for the form. */
function typedValue(name, type, raw) {
  const text = raw.trim();
  if (type === 'string') return raw;
  if (type === 'boolean') {
    if (text === 'true' || text === 'false') return text === 'true';
    throw new Error(`header ${name}: a boolean is true or false`);
  }
  const number = Number(text);
  if (text === '' || !Number.isFinite(number)) throw new Error(`header ${name}: not a number`);
  if (type === 'integer' && !Number.isSafeInteger(number)) throw new Error(`header ${name}: not a whole number`);
  return number;
}

function pathIds(result) {
  const ids = new Set();
  for (const hop of result.hops ?? []) {
    ids.add(`exchange:${hop.from}`);
    ids.add(`${hop.to_kind}:${hop.to}`);
    ids.add(hop.edge ?? `implicit:queue:${hop.to}`);
  }
  return [...ids];
}

class RoutePanel {
  constructor(app) {
    this.app = app;
    this.f = app.format;
    this.request = null;
    this.result = null;
    this.timer = null;
    this.root = app.tabs.add('route', 'Route');
    this.root.classList.add('route-panel');
    this.build();
  }

  build() {
    const { el } = this.f;
    this.exchange = el('select', { id: 'route-exchange', 'aria-label': 'Exchange' });
    this.key = el('input', { id: 'route-key', type: 'text', placeholder: 'routing key', autocomplete: 'off', 'aria-label': 'Routing key' });
    this.headerRows = el('div', { id: 'route-headers' });
    const addHeader = el('button', { type: 'button', id: 'route-add-header', onclick: () => this.addHeaderRow() }, '+ header');
    const submit = el('button', { type: 'submit', id: 'route-submit' }, 'Route');
    const clear = el('button', { type: 'button', id: 'route-clear', onclick: () => this.reset() }, 'Clear');
    this.form = el('form', { id: 'route-form', onsubmit: (e) => { e.preventDefault(); this.ask(); } },
      el('p', { class: 'muted', text: 'Where does a message go? Pick an exchange, a routing key and headers.' }),
      el('div', { class: 'form-row' }, el('label', { for: 'route-exchange', text: 'Exchange' }), this.exchange),
      el('div', { class: 'form-row' }, el('label', { for: 'route-key', text: 'Routing key' }), this.key),
      this.headerRows,
      el('div', { class: 'form-row' }, addHeader, submit, clear));
    this.summary = el('div', { id: 'route-summary', role: 'status' });
    this.queues = el('ul', { id: 'route-queues', class: 'list' });
    this.exchanges = el('ul', { id: 'route-exchanges', class: 'list' });
    this.explain = el('div', { id: 'route-explain' });
    this.root.append(this.form, this.summary, this.queues, this.exchanges, this.explain);
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
      el('button', { type: 'button', title: 'Remove this header', 'aria-label': 'Remove header', onclick: () => row.remove() }, '×'));
    this.headerRows.append(row);
    return row;
  }

  readHeaders() {
    const headers = {};
    for (const row of this.headerRows.querySelectorAll('.route-header')) {
      const name = row.querySelector('.route-header-name').value;
      if (!name) continue;
      headers[name] = typedValue(name, row.querySelector('.route-header-type').value, row.querySelector('.route-header-value').value);
    }
    return headers;
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
    names.forEach((name) => this.exchange.append(el('option', { value: name, text: name === '' ? this.f.DEFAULT_EXCHANGE_LABEL : name })));
    if (names.includes(current)) this.exchange.value = current;
  }

  async ask(request = null) {
    let body = request;
    if (!body) {
      try {
        body = { vhost: this.app.vhost, exchange: this.exchange.value, routing_key: this.key.value, headers: this.readHeaders() };
      } catch (err) {
        this.showError(err.message);
        return;
      }
    }
    this.request = body;
    let response;
    try {
      response = await fetch('/api/route', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    } catch (err) {
      this.showError('the server did not answer');
      return;
    }
    const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (this.request !== body) return; // a newer question was asked meanwhile
    if (!response.ok) { this.showError(answer.error ?? `HTTP ${response.status}`); return; }
    const fingerprint = JSON.stringify({ ...answer, version: 0 });
    this.result = answer;
    if (fingerprint === this.fingerprint) return; // same answer: keep the page still
    this.fingerprint = fingerprint;
    this.render(answer);
  }

  showError(message) {
    this.result = null;
    this.fingerprint = null;
    this.app.graph.clearHighlight();
    this.f.clear(this.summary).append(this.f.el('p', { class: 'pill sev-warning', text: message }));
    this.f.clear(this.queues);
    this.f.clear(this.exchanges);
    this.f.clear(this.explain);
  }

  reset() {
    this.request = null;
    this.result = null;
    this.fingerprint = null;
    this.explained = null;
    this.app.graph.clearHighlight();
    [this.summary, this.queues, this.exchanges, this.explain].forEach((n) => this.f.clear(n));
  }

  render(result) {
    const { el, clear } = this.f;
    const severity = { routed: 'sev-info', unroutable: 'sev-warning', internal: 'sev-error', unsupported: 'sev-warning' }[result.status];
    clear(this.summary).append(
      el('p', {}, el('span', { class: `pill ${severity ?? ''}`, text: result.status }), ' ', result.message));
    clear(this.queues);
    for (const queue of result.queues) {
      const reasons = result.reasons?.[queue] ?? [];
      this.queues.append(el('li', { dataset: { queue } },
        el('button', { type: 'button', class: 'link', text: queue, onclick: () => this.app.graph.focus(`queue:${queue}`) }),
        ...reasons.map((r) => el('div', { class: 'muted', text: r }))));
    }
    clear(this.exchanges);
    for (const ex of result.exchanges ?? []) {
      const label = ex.name === '' ? this.f.DEFAULT_EXCHANGE_LABEL : ex.name;
      const alternate = /alternate exchange/.test(ex.outcome);
      this.exchanges.append(el('li', { class: alternate ? 'route-alternate' : '' },
        el('span', { class: 'pill', text: ex.type }), ' ', el('strong', { text: label }), ': ', ex.outcome));
    }
    clear(this.explain).append(el('p', { class: 'muted', text: 'Click a binding on the graph to see why it did or did not match.' }));
    this.app.graph.highlight(pathIds(result), { dimOthers: true });
    const explained = this.explained && this.app.graph.element(this.explained);
    if (explained) this.explainEdge(explained);
  }

  /** Why a clicked binding did or did not take this message. */
  explainEdge(edge) {
    if (!this.result || !edge || !edge.isEdge?.()) return;
    const { el, clear } = this.f;
    const d = edge.data();
    if (d.kind !== 'binding' && d.kind !== 'alternate') return;
    this.explained = d.id;
    const source = edge.source().data('name');
    const label = source === '' ? this.f.DEFAULT_EXCHANGE_LABEL : source;
    const found = (this.result.bindings ?? []).find((b) => b.edge === d.id);
    let text;
    if (found) text = `${found.matched ? 'Matched' : 'Did not match'}: ${found.reason}`;
    else if (d.implicit) text = (this.result.hops ?? []).some((h) => h.via === 'default-exchange' && h.to === edge.target().data('name'))
      ? 'Matched: the routing key names this queue' : `Not taken: the default exchange only delivers to the queue the routing key names`;
    else if (d.kind === 'alternate') text = (this.result.hops ?? []).some((h) => h.edge === d.id)
      ? `Taken: nothing in ${label} matched, so its alternate exchange got the message`
      : `Not taken: an alternate exchange is used only when ${label}'s own bindings match nothing`;
    else text = `Not evaluated: the message never reached exchange ${label}`;
    clear(this.explain).append(el('p', { id: 'route-explain-text', text }));
    this.app.tabs.show('route');
  }

  /** The topology changed: ask the same question again (debounced). */
  reask() {
    if (!this.request) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ask(this.request), REASK_DELAY_MS);
  }

  /** The demo opens with an example that crosses an exchange-to-exchange binding into a fanout. */
  prefillDemo() {
    if (this.request || this.app.mode !== 'demo') return false;
    if (![...this.exchange.options].some((o) => o.value === DEMO_EXAMPLE.exchange)) return false;
    this.exchange.value = DEMO_EXAMPLE.exchange;
    this.key.value = DEMO_EXAMPLE.routing_key;
    this.app.tabs.show('route');
    this.ask();
    return true;
  }
}

export function install(app) {
  const panel = new RoutePanel(app);
  app.route = panel; // for other features and the browser tests
  app.on('snapshot', () => { panel.syncExchanges(); if (!panel.prefillDemo()) panel.reask(); });
  app.on('patch', () => { panel.syncExchanges(); panel.reask(); });
  app.on('vhost', () => panel.reset());
  app.on('select', (ele) => panel.explainEdge(ele));
}
