// The Trace tab: whether this service may trace and how to turn it on, the control (the vhost
// shown, an exchange or a queue to narrow to, minutes, start, stop), the trace's state, time
// left and counts, the nodes of a cluster it does not cover, the publishes routed otherwise
// than simulated and those routed nowhere (with who sent them), and the recent messages, each
// opening on its headers, properties, routing, deliveries and, only when asked, its body.
// Every name, header and body reaches the page as text (format.el, nameNode, visibleText).
import { clear, el, nameNode, valueText, visibleName, visibleText } from '../format.js';
import * as human from '../humane.js';
import {
  clusterLines, countRows, filterParts, headline, rowVerdict, sideFigures, timeLeft, traceState,
} from '../trace-logic.js';
import { defaultExchangeLabel } from '../vocabulary.js';

const exchangeName = (name) => (name === '' ? defaultExchangeLabel() : name);

/** A name as text, or a muted word when there is none. */
function nameOr(value, missing = 'unknown') {
  return value === null || value === undefined ? el('span', { class: 'muted', text: missing }) : nameNode(value);
}

/** Names separated by commas, each its own isolated node. */
function names(list, empty = 'none') {
  if (!Array.isArray(list) || !list.length) return [el('span', { class: 'muted', text: empty })];
  return list.flatMap((name, i) => (i ? [', ', nameNode(name)] : [nameNode(name)]));
}

function pill(words, extra = '') {
  return el('span', { class: `state-pill tone-${words.tone ?? 'idle'}${extra ? ` ${extra}` : ''}`, text: words.label });
}

/** A block of text from the broker (a body, headers as JSON): its lines kept, hidden characters shown. */
function blob(text, className = '') {
  return el('pre', { class: `blob ${className}`.trim(), text: String(text).split('\n').map((line) => visibleText(line)).join('\n') });
}

function kvRow(label, ...value) {
  return el('tr', {}, el('th', { text: label }), el('td', {}, ...value));
}

function publisherCells(publisher) {
  if (!publisher) return [el('span', { class: 'muted', text: 'not seen (only its deliveries were traced)' })];
  const parts = [nameOr(publisher.connection, 'unknown connection')];
  if (publisher.user !== null && publisher.user !== undefined) parts.push(el('span', { class: 'muted', text: ' · user ' }), nameNode(publisher.user));
  if (publisher.channel !== null && publisher.channel !== undefined) parts.push(el('span', { class: 'muted', text: ` · channel ${publisher.channel}` }));
  if (publisher.node) parts.push(el('span', { class: 'muted', text: ' · node ' }), nameNode(publisher.node));
  return parts;
}

export class TracePanel {
  /** `actions`: {start(request), stop(), body(id), focus(nodeId), focusExchange(name), row(id)} */
  constructor(app, actions) {
    this.app = app;
    this.actions = actions;
    this.offer = null;
    this.status = null;
    this.expanded = new Set(); // message ids opened by the person
    this.bodies = new Map(); // message id -> its body as the service returned it
    this.rowEls = new Map(); // message id -> its <li>
    this.choices = new Map(); // <select> -> the names its options stand for, in order
    this.held = new Set(); // ids of new rows waiting while a message is open
    this.list = null;
    this.root = app.tabs.add('trace', 'Trace');
    this.root.classList.add('trace-panel');
    this.build();
  }

  // ---- building ---------------------------------------------------------------------------------------------

  build() {
    this.offNote = el('div', { id: 'trace-off', class: 'trace-note', hidden: true });
    this.simulatedNote = el('p', { id: 'trace-simulated', class: 'trace-note trace-simulated', hidden: true,
      text: 'Simulated trace: the demo\'s own synthetic messages, traced the way RabbitMQ\'s firehose would trace them. No broker is involved.' });
    this.vhostName = el('span', { id: 'trace-vhost' });
    this.exchange = el('select', { id: 'trace-exchange', 'aria-label': 'Only publishes to this exchange' });
    this.queue = el('select', { id: 'trace-queue', 'aria-label': 'Only deliveries from this queue' });
    this.minutes = el('input', { id: 'trace-minutes', type: 'number', min: '0.1', step: 'any', 'aria-label': 'Minutes the trace runs' });
    this.minutesNote = el('span', { class: 'muted trace-minutes-note' });
    this.startButton = el('button', { type: 'submit', id: 'trace-start', class: 'primary', text: 'Start trace' });
    this.stopButton = el('button', { type: 'button', id: 'trace-stop', text: 'Stop trace', onclick: () => this.actions.stop() });
    this.form = el('form', { id: 'trace-form', onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      el('p', { class: 'muted trace-intro', text: 'Watch real messages: each one drawn along the path it took, and checked against the routing simulator.' }),
      el('div', { class: 'form-row' }, el('label', { text: 'vhost' }), this.vhostName),
      el('div', { class: 'form-row' }, el('label', { for: 'trace-exchange', text: 'Exchange' }), this.exchange),
      el('div', { class: 'form-row' }, el('label', { for: 'trace-queue', text: 'Queue' }), this.queue),
      el('div', { class: 'form-row' }, el('label', { for: 'trace-minutes', text: 'Minutes' }), this.minutes, this.minutesNote),
      el('div', { class: 'form-row trace-buttons' }, this.startButton, this.stopButton));
    this.error = el('p', { id: 'trace-error', class: 'route-error', role: 'alert', hidden: true });
    this.stateLine = el('div', { id: 'trace-state', class: 'trace-state' });
    this.filterLine = el('p', { id: 'trace-filter', class: 'muted' });
    this.headline = el('p', { id: 'trace-headline', class: 'trace-headline' });
    this.figures = el('p', { id: 'trace-figures', class: 'muted' });
    this.countsTable = el('table', { class: 'kv trace-counts-table' });
    this.counts = el('details', { id: 'trace-counts', class: 'trace-counts' }, el('summary', { text: 'All counts' }), this.countsTable);
    this.cluster = el('div', { id: 'trace-cluster', class: 'trace-cluster' });
    this.stopped = el('p', { id: 'trace-stopped', class: 'muted', hidden: true });
    this.statusBox = el('section', { id: 'trace-status', role: 'status', hidden: true },
      this.stateLine, this.filterLine, this.headline, this.figures, this.cluster, this.stopped, this.counts);
    this.disagreements = el('ul', { id: 'trace-disagreements', class: 'list trace-findings' });
    this.disagreementsBox = el('section', { id: 'trace-disagreements-section', hidden: true },
      el('h3', { text: 'Routed otherwise than simulated' }), this.disagreements);
    this.unroutable = el('ul', { id: 'trace-unroutable', class: 'list trace-unroutable' });
    this.unroutableBox = el('section', { id: 'trace-unroutable-section', hidden: true },
      el('h3', { text: 'Unroutable publishes, by who sent them' }), this.unroutable);
    this.messages = el('ol', { id: 'trace-messages', class: 'trace-messages', reversed: true });
    this.messagesEmpty = el('p', { id: 'trace-messages-empty', class: 'muted', text: 'No message traced yet.' });
    this.heldNote = el('button', { type: 'button', id: 'trace-held', class: 'link trace-held', hidden: true, onclick: () => this.showHeld() });
    this.messagesBox = el('section', { id: 'trace-messages-section', hidden: true },
      el('h3', {}, 'Messages ', el('span', { class: 'muted trace-newest', text: 'newest first · click one for its headers and body' })),
      this.messagesEmpty, this.heldNote, this.messages);
    this.control = el('div', { id: 'trace-control', hidden: true }, this.simulatedNote, this.form, this.error);
    this.root.append(this.offNote, this.control, this.statusBox, this.disagreementsBox, this.unroutableBox, this.messagesBox);
  }

  // ---- what this service offers ----------------------------------------------------------------------------

  /** hello.tracing: the control only where a trace can start; otherwise why not and how to allow it. */
  setOffer(offer) {
    this.offer = offer ?? null;
    const usable = Boolean(offer?.allowed && offer?.available);
    this.control.hidden = !usable;
    this.offNote.hidden = usable;
    this.simulatedNote.hidden = !offer?.simulated;
    if (!usable) {
      const allowed = Boolean(offer?.allowed);
      clear(this.offNote).append(
        el('p', {}, el('strong', { text: allowed ? 'Tracing cannot run here.' : 'Tracing is off on this service.' })),
        el('p', { class: 'trace-reason', text: visibleText(offer?.reason || 'this service does not offer tracing') }),
        allowed ? null : el('p', { class: 'muted', text: 'It is off by default because it is the one feature that changes the broker: it turns a vhost\'s tracing on and declares a queue of the service\'s own.' }),
        allowed ? null : el('p', {}, el('span', { class: 'muted', text: 'To turn it on: ' }), el('code', { id: 'trace-enable', text: visibleText(offer?.enable ?? '') })));
      return;
    }
    this.minutes.max = String(offer.max_minutes);
    if (!this.minutes.value) this.minutes.value = String(offer.default_minutes);
    this.minutesNote.textContent = `up to ${human.decimal(offer.max_minutes)}`;
  }

  get usable() { return Boolean(this.offer?.allowed && this.offer?.available); }

  setVhost(vhost) {
    clear(this.vhostName).append(nameNode(vhost ?? ''));
  }

  /** Keep the exchange and queue lists in step with the graph. */
  syncChoices() {
    const graph = this.app.graph;
    const of = (kind) => graph.cy.nodes().filter((n) => n.data('kind') === kind && !n.data('missing')).map((n) => n.data('name')).sort();
    this.fillChoices(this.exchange, of('exchange'), 'every exchange', exchangeName);
    this.fillChoices(this.queue, of('queue'), 'every queue', (q) => q);
  }

  fillChoices(select, list, anyText, label) {
    const shown = this.choices.get(select) ?? [];
    const current = this.chosen(select);
    if (shown.length === list.length && shown.every((v, i) => v === list[i])) return;
    this.choices.set(select, list); // option values are indexes: a name may be anything, including a word chosen here
    clear(select).append(el('option', { value: '', text: anyText }), ...list.map((name, i) => el('option', { value: String(i), text: visibleName(label(name)) })));
    const at = current === null ? -1 : list.indexOf(current);
    select.selectedIndex = at + 1;
  }

  chosen(select) {
    return select.selectedIndex > 0 ? (this.choices.get(select) ?? [])[select.selectedIndex - 1] ?? null : null;
  }

  submit() {
    const minutes = Number(this.minutes.value);
    if (!Number.isFinite(minutes) || minutes <= 0) { this.showError('Give the minutes the trace runs, a number above 0.'); return; }
    const request = { minutes };
    const exchange = this.chosen(this.exchange);
    const queue = this.chosen(this.queue);
    if (exchange !== null) request.exchange = exchange;
    if (queue !== null) request.queue = queue;
    this.actions.start(request);
  }

  showError(text) {
    this.error.textContent = text ? visibleText(text) : '';
    this.error.hidden = !text;
  }

  // ---- the trace's state ------------------------------------------------------------------------------------

  /** A `trace` frame (or a read): state, time left, counts, the cluster, disagreements, unroutable. */
  setStatus(status) {
    this.status = status;
    const state = status?.state ?? 'off';
    const running = state === 'on' || state === 'starting' || state === 'stopping';
    this.statusBox.hidden = !status || (!running && !status.started && state !== 'failed');
    this.messagesBox.hidden = this.statusBox.hidden;
    this.startButton.disabled = state === 'starting' || state === 'stopping';
    this.startButton.textContent = state === 'on' ? 'Run longer' : 'Start trace';
    this.startButton.title = state === 'on' ? 'Run this trace longer: the minutes count from now' : '';
    this.stopButton.hidden = !running;
    this.stopButton.disabled = state !== 'on';
    this.exchange.disabled = this.queue.disabled = running; // one trace per vhost: its filter is fixed while it runs
    if (!status) return;
    clear(this.stateLine).append(pill(traceState(state), 'trace-state-pill'), ' ', el('span', { id: 'trace-left', class: 'muted' }));
    clear(this.filterLine).append(...filterParts(status).map((p) => (p.name !== undefined ? nameNode(p.exchange ? exchangeName(p.name) : p.name) : p.text)));
    this.tick();
    this.setCounts(status.counts);
    clear(this.cluster).append(...clusterLines(status.broker).map((line) => el('p', { class: line.tone === 'warn' ? 'tone-warn-text' : 'muted', text: visibleText(line.text) })));
    this.stopped.hidden = running || !status.stop_reason;
    this.stopped.textContent = status.stop_reason ? `${state === 'failed' ? 'Failed' : 'Stopped'}: ${visibleText(status.stop_reason)}` : '';
    this.renderDisagreements(status.disagreements ?? []);
    this.renderUnroutable(status.unroutable ?? []);
  }

  /** Once a second: the time left. `skew`: the server's clock minus the page's. */
  tick(skew = this.skew ?? 0) {
    this.skew = skew;
    const left = this.root.querySelector('#trace-left');
    if (!left || !this.status) return;
    left.textContent = this.status.state === 'on' ? timeLeft(this.status.until, Date.now() / 1000 + skew) : '';
  }

  setCounts(counts) {
    if (!counts) return;
    this.headline.textContent = headline(counts);
    this.figures.textContent = sideFigures(counts);
    clear(this.countsTable).append(...countRows(counts).map((row) => el('tr', { dataset: { count: row.key } },
      el('th', { text: row.label }), el('td', { class: 'num', text: row.value }))));
    const disagreed = counts.disagreed ?? 0;
    this.app.tabs.setCount('trace', disagreed, { tone: 'bad',
      title: disagreed ? `${human.counted(disagreed, 'traced publish', 'traced publishes')} routed otherwise than simulated` : '' });
  }

  renderDisagreements(rows) {
    this.disagreementsBox.hidden = !rows.length;
    clear(this.disagreements).append(...rows.map((row) => this.disagreementItem(row)));
  }

  /** One exchange's disagreement: a click shows the message and both answers. */
  disagreementItem(row) {
    const body = el('div', { class: 'trace-disagreement-body', hidden: true }, disagreementTable(row));
    const head = el('button', { type: 'button', class: 'link trace-disagreement-head', 'aria-expanded': 'false',
      onclick: () => { body.hidden = !body.hidden; head.setAttribute('aria-expanded', String(!body.hidden)); } },
    el('span', { class: 'pill sev-warning', text: 'routed otherwise' }), ' ', nameNode(exchangeName(row.exchange)),
    el('span', { class: 'muted', text: ` · ${human.counted(row.count, 'publish', 'publishes')} · last ${human.ago(row.time)}` }));
    const focus = el('button', { type: 'button', class: 'link trace-focus', text: 'show the exchange',
      onclick: () => this.actions.focusExchange(row.exchange) });
    return el('li', { class: 'trace-disagreement', dataset: { exchange: row.exchange } }, head, ' ', focus, body);
  }

  renderUnroutable(rows) {
    this.unroutableBox.hidden = !rows.length;
    clear(this.unroutable).append(...rows.map((row) => el('li', { class: 'trace-unroutable-row' },
      el('div', {}, el('span', { class: 'muted', text: 'to ' }), nameNode(exchangeName(row.exchange)),
        el('span', { class: 'muted', text: ` · ${human.counted(row.count, 'message')} · last ${human.ago(row.last)}` })),
      el('div', { class: 'trace-who' }, el('span', { class: 'muted', text: 'from ' }), nameOr(row.connection, 'unknown connection'),
        el('span', { class: 'muted', text: ' · user ' }), nameOr(row.user)))));
  }

  // ---- the message list ---------------------------------------------------------------------------------------

  /** The list changed: rows added, changed or gone (ids), drawn newest first. While the person
   * has a message open, new rows wait (counted) so that what they read does not move away. */
  renderMessages(list, change) {
    this.list = list;
    for (const id of change.removed) {
      this.rowEls.get(id)?.remove();
      this.rowEls.delete(id); this.expanded.delete(id); this.bodies.delete(id); this.held.delete(id);
    }
    for (const id of change.changed) {
      const old = this.rowEls.get(id);
      const row = list.get(id);
      if (old && row) { const fresh = this.messageItem(row); old.replaceWith(fresh); this.rowEls.set(id, fresh); }
    }
    if (this.expanded.size) change.added.forEach((id) => this.held.add(id));
    else this.insertRows(change.added);
    this.showHeldNote();
    this.messagesEmpty.hidden = list.size > 0;
  }

  insertRows(ids) {
    const rows = ids.map((id) => this.list?.get(id)).filter(Boolean).sort((a, b) => b.id - a.id);
    for (const row of rows) {
      const item = this.messageItem(row);
      this.rowEls.set(row.id, item);
      const newer = [...this.rowEls.keys()].filter((k) => k > row.id && this.rowEls.get(k).isConnected).sort((a, b) => a - b)[0];
      if (newer === undefined) this.messages.prepend(item); else this.rowEls.get(newer).after(item);
    }
  }

  /** The rows that waited while a message was open. */
  showHeld() {
    const ids = [...this.held];
    this.held.clear();
    this.insertRows(ids);
    this.showHeldNote();
  }

  showHeldNote() {
    const n = this.held.size;
    this.heldNote.hidden = !n;
    this.heldNote.textContent = n ? `${human.counted(n, 'newer message')} waiting while one is open: show them` : '';
  }

  clearMessages() {
    clear(this.messages);
    this.rowEls.clear();
    this.expanded.clear();
    this.bodies.clear();
    this.held.clear();
    this.showHeldNote();
    this.messagesEmpty.hidden = false;
  }

  messageItem(row) {
    const open = this.expanded.has(row.id);
    const verdict = rowVerdict(row);
    const routed = row.unroutable ? [el('span', { class: 'tone-warn-text', text: 'routed nowhere' })]
      : row.routed_queues ? ['→ ', ...names(row.routed_queues, 'no queue')]
        : ['from ', ...names((row.delivered_to ?? []).map((d) => d.queue))];
    const delivered = (row.delivered_to ?? []).length;
    const head = el('button', { type: 'button', class: 'trace-row-head', 'aria-expanded': String(open),
      onclick: () => this.toggle(row.id) },
    el('span', { class: 'trace-row-line' },
      el('time', { class: 'trace-time', text: human.clockTime(row.time, { ms: true }) }), ' ',
      nameNode(exchangeName(row.exchange), 'name trace-exchange'), el('span', { class: 'muted', text: ' · key ' }),
      nameNode(row.routing_key, 'name trace-key')),
    el('span', { class: 'trace-row-line trace-row-sub' },
      el('span', { class: 'trace-routed' }, ...routed), ' ',
      pill(verdict, 'trace-verdict'),
      delivered ? el('span', { class: 'muted', text: ` delivered ${delivered}×` }) : null,
      row.redelivered ? el('span', { class: 'state-pill tone-warn trace-redelivered', text: 'redelivered' }) : null));
    const item = el('li', { class: 'trace-row', dataset: { id: String(row.id), verdict: row.verdict ?? '' } }, head);
    if (open) item.append(this.messageBody(row));
    return item;
  }

  toggle(id) {
    if (this.expanded.has(id)) this.expanded.delete(id); else this.expanded.add(id);
    const old = this.rowEls.get(id);
    const row = this.actions.row(id);
    if (old && row) {
      const fresh = this.messageItem(row);
      old.replaceWith(fresh);
      this.rowEls.set(id, fresh);
      fresh.querySelector('.trace-row-head')?.focus();
    }
    if (!this.expanded.size) this.showHeld();
  }

  messageBody(row) {
    const deliveries = (row.delivered_to ?? []).map((d) => el('li', {},
      nameNode(d.queue), el('span', { class: 'muted', text: ' → ' }), d.consumer ? el('button', { type: 'button', class: 'link', title: 'Show the consumer on the graph',
        onclick: () => this.actions.focus(d.consumer) }, nameNode(this.nodeLabel(d.consumer))) : nameOr(d.connection, 'unknown connection'),
      d.user !== null && d.user !== undefined ? [el('span', { class: 'muted', text: ' · user ' }), nameNode(d.user)] : null,
      el('span', { class: 'muted', text: ` · ${human.clockTime(d.time, { ms: true })}` }),
      d.redelivered ? el('span', { class: 'state-pill tone-warn', text: 'redelivered' }) : null));
    const simulated = row.simulated_queues === null || row.simulated_queues === undefined
      ? [el('span', { class: 'muted', text: row.verdict_reason ? visibleText(row.verdict_reason) : 'not asked' })]
      : [...names(row.simulated_queues, 'no queue'), el('span', { class: 'muted', text: row.topology_version !== null ? ` (topology v${row.topology_version})` : '' })];
    const table = el('table', { class: 'kv trace-message-table' },
      kvRow('Time', human.clockTime(row.time, { ms: true })),
      kvRow('Exchange', nameNode(exchangeName(row.exchange))),
      kvRow(row.routing_keys?.length > 1 ? 'Routing keys' : 'Routing key', ...names(row.routing_keys?.length ? row.routing_keys : [row.routing_key], '""')),
      kvRow('Size', human.bytes(row.size)),
      kvRow('Published by', ...publisherCells(row.publisher)),
      kvRow('The broker routed it to', ...(row.routed_queues ? names(row.routed_queues, 'no queue (unroutable)') : [el('span', { class: 'muted', text: 'not seen' })])),
      kvRow('The simulator says', ...simulated),
      kvRow('Verdict', pill(rowVerdict(row))),
      kvRow('Delivered to', deliveries.length ? el('ul', { class: 'list trace-deliveries' }, ...deliveries) : el('span', { class: 'muted', text: 'no delivery traced yet' })),
      kvRow('Headers', Object.keys(row.headers ?? {}).length ? blob(valueText(row.headers), 'trace-headers') : el('span', { class: 'muted', text: 'none' })),
      kvRow('Properties', Object.keys(row.properties ?? {}).length ? blob(valueText(row.properties), 'trace-properties') : el('span', { class: 'muted', text: 'none' })));
    return el('div', { class: 'trace-row-body' }, table, this.bodyBlock(row));
  }

  /** The body: hidden until asked for, then the start of it as text. */
  bodyBlock(row) {
    const box = el('div', { class: 'trace-body' });
    const shown = this.bodies.get(row.id);
    if (shown) {
      if (shown.missing) box.append(el('p', { class: 'muted', text: 'The service no longer keeps this message (only the most recent ones).' }));
      else {
        box.append(el('h4', { text: 'Body' }), blob(shown.body ?? '', 'trace-body-text'),
          el('p', { class: 'muted table-note', text: shown.body_truncated ? `The first ${human.bytes(new TextEncoder().encode(shown.body ?? '').length)} of ${human.bytes(row.size)}, as text: the service keeps no more.` : `All ${human.bytes(row.size)}, as text.` }));
      }
      return box;
    }
    box.append(el('button', { type: 'button', class: 'trace-show-body', text: 'Show body',
      title: 'Ask the service for the start of this message\'s body (shown as text)', onclick: (e) => { e.target.disabled = true; this.actions.body(row.id); } }));
    return box;
  }

  /** The service's answer to a body request. */
  showBody(id, message) {
    this.bodies.set(id, message ? { body: message.body, body_truncated: message.body_truncated } : { missing: true });
    const old = this.rowEls.get(id);
    const row = this.actions.row(id);
    if (old && row && this.expanded.has(id)) { const fresh = this.messageItem(row); old.replaceWith(fresh); this.rowEls.set(id, fresh); }
  }

  nodeLabel(id) {
    const ele = this.app.graph.element(id);
    return ele ? this.app.format.displayName(ele.data()) : String(id).slice(String(id).indexOf(':') + 1);
  }
}

/** A disagreement: the message, what the broker did and what the simulator says. */
export function disagreementTable(row) {
  return el('table', { class: 'kv trace-disagreement-table' },
    kvRow('Routing key', ...names(row.routing_keys?.length ? row.routing_keys : [row.routing_key], '""')),
    kvRow('Headers', Object.keys(row.headers ?? {}).length ? blob(valueText(row.headers)) : el('span', { class: 'muted', text: 'none' })),
    kvRow('Published by', ...publisherCells(row.publisher)),
    kvRow('The broker routed it to', ...names(row.routed_queues, 'no queue')),
    kvRow(`The simulator says${row.topology_version !== null && row.topology_version !== undefined ? ` (topology v${row.topology_version})` : ''}`, ...names(row.simulated_queues, 'no queue')),
    kvRow('Publishes', human.number(row.count)),
    kvRow('Last', `${human.clockTime(row.time)} (${human.ago(row.time)})`));
}
