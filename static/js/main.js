// Wires the page: the topology stream feeds the graph; the toolbar drives the view;
// features (routing, findings, Celery) plug in through the `app` object below.
import { connectTopology } from './socket.js';
import { Graph } from './graph.js';
import { Details, StatusBar, Tabs, renderLegend, setupMenus } from './panels.js';
import { figureSources } from './details.js';
import * as format from './format.js';
import featureNames from './features/index.js';
import { setupSidebar } from './sidebar.js';
import { chooseVhost, rememberVhost, storedVhost } from './vhosts.js';
import { sourceLabel } from './vocabulary.js';

const $ = (id) => document.getElementById(id);

function createBus() {
  const handlers = new Map();
  return {
    on(event, fn) { if (!handlers.has(event)) handlers.set(event, []); handlers.get(event).push(fn); },
    emit(event, data) { (handlers.get(event) ?? []).forEach((fn) => { try { fn(data); } catch (err) { console.error(err); } }); },
  };
}

/** The vhost list changed, or the server's suggestion arrived: offer the list, and pick a vhost
 * once both are known (hello follows the list; a page that connects before the first read gets
 * a second hello once the broker has been read). */
function offerVhosts(app, list = null) {
  const select = $('vhost-select');
  if (list) {
    app.vhostNames = list.map((v) => v.name);
    format.clear(select);
    app.vhostNames.forEach((name) => select.append(format.el('option', { value: name, text: format.visibleName(name) })));
  }
  const names = app.vhostNames ?? [];
  if (!app.hello || !names.length) return;
  const current = app.stream.vhost;
  const pick = chooseVhost({
    names, current, wanted: new URLSearchParams(location.search).get('vhost'),
    stored: storedVhost(window.localStorage), suggested: app.defaultVhost,
  });
  select.value = pick;
  if (pick !== current) app.selectVhost(pick);
}

function setupToolbar(app) {
  const graph = app.graph;
  $('btn-fit').addEventListener('click', () => graph.fit());
  $('btn-zoom-in').addEventListener('click', () => graph.zoomBy(1.25));
  $('btn-zoom-out').addEventListener('click', () => graph.zoomBy(0.8));
  $('btn-relayout').addEventListener('click', () => graph.relayout());
  const collapse = $('btn-collapse');
  collapse.addEventListener('click', () => graph.collapse());
  graph.onGroupsChanged = () => { collapse.hidden = graph.groups.expanded.size === 0; };
  $('vhost-select').addEventListener('change', (e) => {
    rememberVhost(window.localStorage, e.target.value); // the user's choice: the next visit opens there
    // The vhost already shown (a change event without a change): selecting it again would clear
    // the graph while this connection, already subscribed, gets no new snapshot.
    if (e.target.value !== app.vhost) app.selectVhost(e.target.value);
  });
  const toggles = { 'toggle-plumbing': 'plumbing', 'toggle-default': 'implicit', 'toggle-builtin': 'builtin', 'toggle-consumers': 'consumers' };
  for (const [id, option] of Object.entries(toggles)) {
    const box = $(id);
    graph.options[option] = box.checked;
    box.addEventListener('change', () => graph.setOption(option, box.checked));
  }
  const search = $('search');
  const counter = $('search-count');
  let matches = [];
  let cursor = 0;
  search.addEventListener('input', () => {
    matches = graph.search(search.value);
    cursor = 0;
    graph.clearHighlight('match');
    if (search.value.trim()) graph.highlight(matches, { className: 'match', dimOthers: true });
    counter.textContent = search.value.trim() ? `${matches.length} found` : '';
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && matches.length) {
      const id = matches[cursor % matches.length];
      cursor += 1;
      graph.focus(id);
      app.bus.emit('select', graph.element(id));
    } else if (e.key === 'Escape') {
      search.value = ''; search.dispatchEvent(new Event('input'));
    }
  });
}

/** Demo and definitions modes say so at the top; a definitions file is not a live broker. */
function showMode(mode) {
  const badge = $('mode-badge');
  if (mode === 'demo') {
    $('demo-ribbon').hidden = false;
    badge.hidden = false; badge.textContent = 'demo';
  } else if (mode === 'definitions') {
    badge.hidden = false; badge.textContent = sourceLabel('definitions');
    badge.title = 'Offline: a definitions export read from a file, not a live broker. Nothing here updates.';
  } else if (mode === 'replay') {
    badge.hidden = false; badge.textContent = 'replay';
    badge.title = 'Offline: a recording read from a file, not a live broker. Move through it on the timeline below.';
  }
}

async function main() {
  const graphEl = $('graph');
  const graph = new Graph(graphEl);
  const tabs = new Tabs($('tabs'), $('tab-panels'));
  setupSidebar();
  const details = new Details(tabs.add('details', 'Details'), graph);
  const mode = document.body.dataset.mode;
  const status = new StatusBar({ mode });
  const bus = createBus();
  details.addSection((ele) => (ele.isNode()
    ? figureSources(ele.data('kind'), status.statuses.get(status.topologySource)?.extra?.figures) : null));
  renderLegend($('legend'));
  setupMenus();
  showMode(mode);

  const app = {
    graph, tabs, details, status, bus, format, mode,
    past: null, // the UNIX time of the moment shown, or null while live
    on: bus.on, emit: bus.emit,
    get vhost() { return app.stream.vhost; },
    selectVhost(vhost) {
      graph.cy.elements().remove();
      graph.positions.clear();
      graph.needsLayout = true;
      details.showHint();
      $('graph-empty').hidden = false;
      status.showBanner(null); // a message about the vhost left behind
      const url = new URL(location.href); url.searchParams.set('vhost', vhost); history.replaceState(null, '', url);
      app.stream.select(vhost);
      bus.emit('vhost', vhost);
    },
  };

  const updateCounts = (version) => status.setCounts(graph.counts(), version);
  /** A whole graph, live or recorded (a recorded one names its source's status `source`). */
  app.showSnapshot = (msg) => {
    $('graph-empty').hidden = true;
    graph.setSnapshot(msg);
    const topologyStatus = msg.status ?? msg.source;
    if (topologyStatus) graphEl.classList.toggle('stale', status.setStatus(topologyStatus, { topology: true }));
    status.setNotes(msg.broker?.missing);
    status.setFigures(msg.broker?.figures);
    details.refresh();
    updateCounts(msg.version);
  };
  /** Centre on an element and select it, as a click on it would (its details follow). */
  app.showElement = (id) => { if (!graph.focus(id)) return false; bus.emit('select', graph.element(id)); return true; };
  app.showPatch = (msg) => { graph.applyPatch(msg); details.refresh(); updateCounts(msg.to); };
  app.stream = connectTopology({
    onConnection: (up) => status.setConnected(up),
    onVhosts: (list) => offerVhosts(app, list),
    onHello: (msg) => {
      app.hello = msg;
      app.defaultVhost = msg.default_vhost;
      graphEl.classList.toggle('stale', status.setAll(msg.statuses, msg.topology_source));
      offerVhosts(app);
      bus.emit('hello', msg);
    },
    onStatus: (msg) => {
      // Every source's status: the banner lists each failing one; the graph greys when its own fails.
      graphEl.classList.toggle('stale', status.setStatus(msg.status, { topology: msg.topology }));
      bus.emit('status', msg);
    },
    // While a past moment is shown (features/timeline.js) live frames are not drawn; going
    // back to live asks for a fresh snapshot.
    onSnapshot: (msg) => { if (app.past === null) { app.showSnapshot(msg); bus.emit('snapshot', msg); } },
    onPatch: (msg) => { if (app.past === null) { app.showPatch(msg); bus.emit('patch', msg); } },
    onVhostRemoved: () => status.showBanner('This vhost no longer exists on the broker.', 'warn', { forSeconds: null }),
    onError: (msg) => status.showBanner(String(msg?.message ?? 'error'), 'warn'),
  });
  app.socket = app.stream.socket;

  graph.cy.on('tap', 'node, edge', (evt) => {
    if (evt.target.data('kind') === 'group') { graph.expand(evt.target.id()); return; } // a name group opens on click
    tabs.showForSelection(evt.target);
    bus.emit('select', evt.target);
  });
  graph.cy.on('tap', (evt) => { if (evt.target === graph.cy) { details.show(null); bus.emit('select', null); } });
  bus.on('select', (ele) => { if (ele) { details.show(ele); } });
  setupToolbar(app);

  for (const name of featureNames) {
    try {
      const feature = await import(`./features/${name}.js`);
      feature.install(app);
    } catch (err) {
      console.error(`feature ${name} failed to load`, err);
    }
  }
  return app;
}

/** The page's app once its features are installed (a module export: nothing is put on window). */
export const ready = main();
