// Sharing what is on screen: the address carries the view (share.js: vhost, selected node,
// route question, Tasks and trace filters, moment shown), kept in step as the view changes;
// "Copy link" copies it; a page opened from such a link shows the same view once the graph is
// drawn. PNG and SVG export of the graph as shown (export.js), named with vhost and moment.
import { readView, writeView } from '../share.js';
import { download, exportName, pngOf, svgOf } from '../export.js';
import { dateTime } from '../timeline-logic.js';

const COPIED_MS = 2000;

class Sharing {
  constructor(app) {
    this.app = app;
    this.selected = null;
    this.restoring = readView(location.search); // the view asked for by the address, until shown
    this.copyButton = document.getElementById('share-copy');
    this.copyButton.addEventListener('click', () => this.copy());
    document.getElementById('export-png').addEventListener('click', () => this.exportPng());
    document.getElementById('export-svg').addEventListener('click', () => this.exportSvg());
  }

  /** What is on screen, as share.js names it. */
  view() {
    const app = this.app;
    const question = app.route?.question;
    const tasks = app.celery?.panel?.filters;
    const value = (id) => document.getElementById(id)?.value || undefined;
    return {
      vhost: app.vhost ?? undefined,
      at: app.past ?? undefined,
      node: this.selected ?? undefined,
      routeExchange: question?.kind === 'message' ? question.body.exchange : undefined,
      routeKey: question?.kind === 'message' ? question.body.routing_key : undefined,
      routeTask: question?.kind === 'task' ? question.task : undefined,
      taskSearch: tasks?.search || undefined,
      taskState: tasks?.state || undefined,
      traceExchange: value('trace-exchange'),
      traceQueue: value('trace-queue'),
    };
  }

  /** The address bar shows the view (without adding to the history). */
  sync() {
    if (this.restoring) return; // the view asked for is not on screen yet
    const search = writeView(location.search, this.view());
    if (search !== location.search) history.replaceState(null, '', `${location.pathname}${search}${location.hash}`);
  }

  link() {
    this.sync();
    return `${location.origin}${location.pathname}${writeView(location.search, this.view())}`;
  }

  async copy() {
    const link = this.link();
    let copied;
    try {
      await navigator.clipboard.writeText(link);
      copied = true;
    } catch {
      copied = copyBySelection(link); // an address that is not a secure context has no clipboard API
    }
    this.copyButton.textContent = copied ? 'Copied' : 'Copy link';
    this.copyButton.title = copied ? link : `Could not reach the clipboard: copy the address bar (${link})`;
    if (!copied) this.app.status.showBanner('The browser did not let the page copy: the address bar holds the link to this view.', 'warn');
    setTimeout(() => { this.copyButton.textContent = 'Copy link'; }, COPIED_MS);
  }

  // ---- opening a shared link ------------------------------------------------------------------------

  /** Once the graph is drawn: the moment, then the selection and the question of the link. */
  async restore() {
    const view = this.restoring;
    if (!view) return;
    const app = this.app;
    if (view.vhost !== undefined && app.vhost !== view.vhost) { this.restoring = null; return; } // the vhost is gone
    if (view.at !== undefined && app.timeline) await app.timeline.showMoment(view.at);
    this.restoring = null;
    if (view.node) this.select(view.node);
    if (view.traceExchange || view.traceQueue) this.traceFilter(view);
    if (view.taskSearch || view.taskState) this.taskFilter(view);
    if (view.routeExchange !== undefined || view.routeTask) this.routeQuestion(view);
    this.sync();
  }

  select(id) {
    const ele = this.app.graph.element(id);
    if (!ele) { this.app.status.showBanner(`The link's selection is not on the graph${this.app.past === null ? '' : ' at that moment'}.`, 'warn'); return; }
    this.app.graph.focus(id);
    this.app.tabs.show('details');
    this.app.emit('select', ele);
  }

  routeQuestion(view) {
    const route = this.app.route;
    if (!route) return;
    this.app.tabs.show('route');
    if (view.routeTask && route.task) {
      route.task.value = view.routeTask;
      route.askTask(view.routeTask);
      return;
    }
    route.syncExchanges();
    route.exchange.value = view.routeExchange;
    route.key.value = view.routeKey ?? '';
    route.askForm();
  }

  taskFilter(view) {
    const panel = this.app.celery?.panel;
    if (!panel) return;
    panel.search.value = view.taskSearch ?? '';
    if (view.taskState) panel.state.value = view.taskState;
    panel.setFilters({ search: view.taskSearch ?? '', state: view.taskState ?? '' });
    this.app.tabs.show('tasks');
  }

  traceFilter(view) {
    for (const [id, value] of [['trace-exchange', view.traceExchange], ['trace-queue', view.traceQueue]]) {
      const select = document.getElementById(id);
      if (select && value && [...select.options].some((o) => o.value === value)) select.value = value;
    }
    this.app.tabs.show('trace');
  }

  // ---- export ------------------------------------------------------------------------------------------

  moment() { return this.app.past ?? Date.now() / 1000; }

  heading() {
    const vhost = this.app.format.visibleName(this.app.vhost ?? '');
    return `vhost ${vhost} · ${dateTime(this.moment())}${this.app.past === null ? ' (live)' : ''}`;
  }

  async exportPng() {
    const blob = await pngOf(this.app.graph.cy);
    download(blob, exportName(this.app.vhost, this.moment(), 'png'));
  }

  exportSvg() {
    const text = svgOf(this.app.graph.cy, this.heading());
    download(new Blob([text], { type: 'image/svg+xml' }), exportName(this.app.vhost, this.moment(), 'svg'));
  }
}

/** The old way to copy, where the clipboard API is not offered. */
function copyBySelection(text) {
  const box = document.createElement('textarea');
  box.value = text;
  box.setAttribute('readonly', '');
  box.className = 'offscreen';
  document.body.append(box);
  box.select();
  let done;
  try { done = document.execCommand('copy'); } catch { done = false; }
  box.remove();
  return done;
}

export function install(app) {
  const sharing = new Sharing(app);
  app.sharing = sharing;
  app.on('select', (ele) => { sharing.selected = ele ? ele.id() : null; sharing.sync(); });
  app.on('moment', () => sharing.sync());
  app.on('view-changed', () => sharing.sync());
  app.on('vhost', () => { sharing.selected = null; sharing.sync(); });
  let restored = false;
  const whenDrawn = () => { if (!restored) { restored = true; sharing.restore(); } };
  app.on('snapshot', whenDrawn);
  if (app.stream.version !== null && app.stream.version !== undefined) whenDrawn();
}
