// Wires the page: the topology stream feeds the graph; the toolbar drives the view;
// features (routing, findings, Celery) plug in through the `app` object below.
import { connectTopology } from './socket.js';
import { Graph } from './graph.js';
import { Details, StatusBar, Tabs, renderLegend } from './panels.js';
import * as format from './format.js';
import featureNames from './features/index.js';

const $ = (id) => document.getElementById(id);

function createBus() {
  const handlers = new Map();
  return {
    on(event, fn) { if (!handlers.has(event)) handlers.set(event, []); handlers.get(event).push(fn); },
    emit(event, data) { (handlers.get(event) ?? []).forEach((fn) => { try { fn(data); } catch (err) { console.error(err); } }); },
  };
}

function setupVhostSelect(app, list) {
  const select = $('vhost-select');
  const names = list.map((v) => v.name);
  format.clear(select);
  names.forEach((name) => select.append(format.el('option', { value: name, text: name })));
  const wanted = new URLSearchParams(location.search).get('vhost');
  const current = app.stream.vhost;
  const pick = names.includes(current) ? current : names.includes(wanted) ? wanted : names.includes('/') ? '/' : names[0];
  if (pick === undefined) return;
  select.value = pick;
  if (pick !== current) app.selectVhost(pick);
}

function setupToolbar(app) {
  const graph = app.graph;
  $('btn-fit').addEventListener('click', () => graph.fit());
  $('btn-zoom-in').addEventListener('click', () => graph.zoomBy(1.25));
  $('btn-zoom-out').addEventListener('click', () => graph.zoomBy(0.8));
  $('btn-relayout').addEventListener('click', () => graph.relayout());
  $('vhost-select').addEventListener('change', (e) => app.selectVhost(e.target.value));
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

async function main() {
  const graphEl = $('graph');
  const graph = new Graph(graphEl);
  const tabs = new Tabs($('tabs'), $('tab-panels'));
  const details = new Details(tabs.add('details', 'Details'), graph);
  const status = new StatusBar();
  const bus = createBus();
  renderLegend($('legend'));

  const mode = document.body.dataset.mode;
  if (mode === 'demo') {
    $('demo-ribbon').hidden = false;
    const badge = $('mode-badge'); badge.hidden = false; badge.textContent = 'DEMO';
  } else if (mode === 'definitions') {
    const badge = $('mode-badge'); badge.hidden = false; badge.textContent = 'OFFLINE DEFINITIONS';
  }

  const app = {
    graph, tabs, details, status, bus, format, mode,
    on: bus.on, emit: bus.emit,
    get vhost() { return app.stream.vhost; },
    selectVhost(vhost) {
      graph.cy.elements().remove();
      graph.positions.clear();
      graph.needsLayout = true;
      details.showHint();
      $('graph-empty').hidden = false;
      const url = new URL(location.href); url.searchParams.set('vhost', vhost); history.replaceState(null, '', url);
      app.stream.select(vhost);
      bus.emit('vhost', vhost);
    },
  };

  const updateCounts = () => status.setCounts(graph.counts(), app.stream.version);
  app.stream = connectTopology({
    onConnection: (up) => status.setConnected(up),
    onVhosts: (list) => setupVhostSelect(app, list),
    onHello: (msg) => { const s = Object.values(msg.statuses ?? {})[0]; if (s) graphEl.classList.toggle('stale', status.setStatus(s)); },
    onStatus: (msg) => {
      if (['management-api', 'definitions', 'demo', 'test'].includes(msg.source) || msg.source === status.status?.source || !status.status) {
        graphEl.classList.toggle('stale', status.setStatus(msg.status));
      }
      bus.emit('status', msg);
    },
    onSnapshot: (msg) => {
      $('graph-empty').hidden = true;
      graph.setSnapshot(msg);
      if (msg.status) graphEl.classList.toggle('stale', status.setStatus(msg.status));
      details.refresh();
      updateCounts();
      bus.emit('snapshot', msg);
    },
    onPatch: (msg) => { graph.applyPatch(msg); details.refresh(); updateCounts(); bus.emit('patch', msg); },
    onVhostRemoved: () => status.showBanner('This vhost no longer exists on the broker.', 'warn'),
    onError: (msg) => status.showBanner(String(msg?.message ?? 'error'), 'warn'),
  });
  app.socket = app.stream.socket;

  graph.cy.on('tap', 'node, edge', (evt) => { tabs.show('details'); bus.emit('select', evt.target); });
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
  window.visualiser = app; // for the browser tests and the curious
}

main();
