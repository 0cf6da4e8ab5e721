// The Cytoscape wrapper: turns snapshots and patches into elements in place, keeps node
// positions across patches, applies the view toggles, and offers highlight/focus/badges
// to features. Elements are looked up with getElementById, never selectors built from names.
import cytoscape from '../vendor/cytoscape-3.34.4/cytoscape.esm.min.mjs';
import { layoutAll, placeNear } from './layout.js';
import { count, displayName, rate, shorten } from './format.js';

const TYPE_COLOURS = { direct: '#3b82f6', fanout: '#a855f7', topic: '#f59e0b', headers: '#14b8a6' };
const TYPE_SHAPES = { direct: 'round-hexagon', fanout: 'ellipse', topic: 'round-diamond', headers: 'round-octagon' };
const DEPTH_SCALE = Math.log10(1 + 10000); // a queue with 10k ready messages reads as "full"

export const STYLE = [
  { selector: 'node', style: {
    'label': 'data(display)', 'color': '#e2e8f0', 'font-size': 11, 'text-wrap': 'wrap',
    'min-zoomed-font-size': 7, 'text-outline-width': 0,
  } },
  { selector: 'node[kind = "exchange"]', style: {
    'width': 44, 'height': 44, 'shape': 'rhomboid', 'background-color': '#94a3b8',
    'border-width': 2, 'border-color': '#0f172a', 'text-valign': 'bottom', 'text-margin-y': 6,
    'text-max-width': 170, 'font-weight': 600,
  } },
  ...Object.entries(TYPE_COLOURS).map(([type, colour]) => ({
    selector: `node[kind = "exchange"][type = "${type}"]`,
    style: { 'background-color': colour, 'shape': TYPE_SHAPES[type] },
  })),
  { selector: 'node[kind = "exchange"][?internal]', style: { 'border-style': 'double', 'border-width': 5, 'border-color': '#e2e8f0' } },
  { selector: 'node[kind = "exchange"][?default]', style: { 'background-color': '#475569', 'shape': 'round-rectangle', 'width': 40, 'height': 30 } },
  { selector: 'node[kind = "exchange"][?missing]', style: {
    'background-opacity': 0, 'border-style': 'dashed', 'border-color': '#ef4444', 'border-width': 2, 'color': '#fca5a5', 'shape': 'round-rectangle',
  } },
  { selector: 'node[kind = "queue"]', style: {
    'shape': 'round-rectangle', 'width': 200, 'height': 44, 'text-valign': 'center', 'text-halign': 'center',
    'text-max-width': 190, 'font-size': 10.5, 'color': '#0f172a', 'font-weight': 500,
    'background-color': '#e2e8f0', 'border-width': 1.5, 'border-color': '#64748b',
    'background-fill': 'linear-gradient', 'background-gradient-direction': 'to-right',
    'background-gradient-stop-colors': (ele) => ele.data('fillColour') ?? '#7dd3fc #7dd3fc #e2e8f0 #e2e8f0',
    'background-gradient-stop-positions': (ele) => ele.data('fillStops') ?? '0 0 0 100',
  } },
  { selector: 'node[kind = "queue"][consumers = 0][messages_ready > 0]', style: { 'border-color': '#ef4444', 'border-width': 2.5 } },
  { selector: 'node[kind = "connection"]', style: {
    'shape': 'round-rectangle', 'background-color': '#1e293b', 'background-opacity': 0.75, 'border-color': '#334155',
    'border-width': 1, 'label': 'data(display)', 'text-valign': 'top', 'text-halign': 'center', 'color': '#94a3b8',
    'font-size': 10, 'padding': 8, 'text-margin-y': -3,
  } },
  { selector: 'node[kind = "consumer"]', style: {
    'shape': 'round-rectangle', 'width': 160, 'height': 24, 'background-color': '#334155', 'border-width': 1,
    'border-color': '#475569', 'text-valign': 'center', 'text-halign': 'center', 'font-size': 10, 'text-max-width': 150,
  } },
  { selector: 'node[kind = "consumer"][!active]', style: { 'border-style': 'dashed', 'color': '#94a3b8' } },
  { selector: 'edge', style: {
    'width': 1.6, 'line-color': '#64748b', 'target-arrow-color': '#64748b', 'target-arrow-shape': 'triangle',
    'arrow-scale': 0.9, 'curve-style': 'bezier', 'label': 'data(display)', 'font-size': 9.5, 'color': '#cbd5e1',
    'text-background-color': '#0f172a', 'text-background-opacity': 0.85, 'text-background-padding': 2,
    'text-background-shape': 'roundrectangle', 'min-zoomed-font-size': 8, 'text-rotation': 'none',
  } },
  { selector: 'edge[kind = "binding"][destination_type = "exchange"]', style: { 'line-color': '#a78bfa', 'target-arrow-color': '#a78bfa', 'width': 2.2 } },
  { selector: 'edge[kind = "dead-letter"]', style: { 'line-style': 'dashed', 'line-color': '#f87171', 'target-arrow-color': '#f87171', 'color': '#fca5a5' } },
  { selector: 'edge[kind = "alternate"]', style: { 'line-style': 'dashed', 'line-color': '#fbbf24', 'target-arrow-color': '#fbbf24', 'color': '#fde68a' } },
  { selector: 'edge[kind = "consumes"]', style: { 'line-color': '#475569', 'target-arrow-color': '#475569', 'width': 1.2, 'label': '' } },
  { selector: 'edge.implicit', style: { 'line-style': 'dotted', 'line-color': '#334155', 'target-arrow-color': '#334155', 'width': 1, 'color': '#64748b' } },
  { selector: '.hidden', style: { 'display': 'none' } },
  { selector: '.dimmed', style: { 'opacity': 0.18 } },
  { selector: '.match', style: { 'underlay-color': '#38bdf8', 'underlay-opacity': 0.35, 'underlay-padding': 6 } },
  { selector: '.highlight', style: { 'underlay-color': '#22c55e', 'underlay-opacity': 0.45, 'underlay-padding': 7, 'z-index': 10 } },
  { selector: 'edge.highlight', style: { 'line-color': '#22c55e', 'target-arrow-color': '#22c55e', 'width': 4, 'opacity': 1 } },
  { selector: '.badge-critical', style: { 'border-color': '#ef4444', 'border-width': 4 } },
  { selector: '.badge-warning', style: { 'border-color': '#f59e0b', 'border-width': 4 } },
  { selector: '.badge-info', style: { 'border-color': '#60a5fa', 'border-width': 3 } },
  { selector: ':selected', style: { 'overlay-color': '#38bdf8', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
];

function queueDisplay(d) {
  const consumers = d.consumers ?? 0;
  const stats = `${count(d.messages_ready ?? 0)} ready · ${count(d.messages_unacknowledged ?? 0)} unacked · ${consumers} ⚇`;
  const flow = d.rates && (d.rates.publish || d.rates.deliver_get) ? `\n↓ ${rate(d.rates.publish ?? 0)}  ↑ ${rate(d.rates.deliver_get ?? 0)}` : '';
  return `${shorten(d.name, 34)}\n${stats}${flow}`;
}

function headersSummary(args) {
  const entries = Object.entries(args ?? {});
  const match = args?.['x-match'] ?? 'all';
  const rest = entries.filter(([k]) => k !== 'x-match');
  const shown = rest.slice(0, 2).map(([k, v]) => `${shorten(k, 14)}=${shorten(typeof v === 'object' ? JSON.stringify(v) : v, 14)}`);
  return `${match}: ${shown.join(', ')}${rest.length > 2 ? ` +${rest.length - 2}` : ''}`;
}

/** The text Cytoscape draws for an element (canvas text: never parsed as HTML). */
export function labelFor(d, sourceType) {
  switch (d.kind) {
    case 'exchange': {
      const name = shorten(displayName(d), 30);
      if (d.missing) return `${name}\n(missing)`;
      if (d.default) return `${name}\nevery queue, by name`;
      const flow = d.rates?.publish_in ? `  ${rate(d.rates.publish_in)}` : '';
      return `${name}\n${d.type}${d.internal ? ' · internal' : ''}${flow}`;
    }
    case 'queue': return queueDisplay(d);
    case 'connection': return shorten(d.label ?? d.name, 40);
    case 'consumer': return shorten(d.label ?? d.name, 28);
    case 'binding':
      if (sourceType === 'fanout') return '';
      if (sourceType === 'headers') return headersSummary(d.arguments);
      return d.routing_key === '' ? '""' : shorten(d.routing_key, 28);
    case 'dead-letter': return d.routing_key ? `dead-letter (${shorten(d.routing_key, 20)})` : 'dead-letter';
    case 'alternate': return 'alternate';
    default: return shorten(d.label ?? d.name ?? '', 30);
  }
}

function depthFill(d) {
  const ready = d.messages_ready ?? 0;
  const pct = Math.min(100, Math.round((Math.log10(1 + ready) / DEPTH_SCALE) * 100));
  const colour = ready === 0 ? '#7dd3fc' : pct < 50 ? '#7dd3fc' : pct < 80 ? '#fbbf24' : '#f87171';
  return { fillStops: `0 ${pct} ${pct} 100`, fillColour: `${colour} ${colour} #e2e8f0 #e2e8f0` };
}

export class Graph {
  constructor(container) {
    this.cy = cytoscape({ container, style: STYLE, minZoom: 0.02, maxZoom: 3, boxSelectionEnabled: false });
    // Cytoscape caches its container's size: keep it in step with the page's layout.
    new ResizeObserver(() => this.cy.resize()).observe(container);
    this.options = { plumbing: false, implicit: false, builtin: false, consumers: true };
    this.positions = new Map(); // id -> {x,y}: survives re-adds, so a node that comes back returns home
    this.needsLayout = true;
  }

  element(id) { const e = this.cy.getElementById(id); return e.nonempty() ? e : null; }

  _decorate(ele) {
    const d = ele.data();
    const sourceType = ele.isEdge() ? ele.source().data('type') : undefined;
    const extra = { display: labelFor(d, sourceType) };
    if (d.kind === 'queue') Object.assign(extra, depthFill(d));
    ele.data(extra);
  }

  /** Big graphs pan and zoom on a cached texture, without edges, to stay interactive. */
  _tuneForSize(elements) {
    const large = elements > 1500;
    const renderer = this.cy.renderer();
    renderer.textureOnViewport = large;
    renderer.hideEdgesOnViewport = large;
  }

  /** Replace everything with a snapshot, keeping positions of nodes that are still there. */
  setSnapshot(msg) {
    const cy = this.cy;
    this._tuneForSize(msg.nodes.length + msg.edges.length);
    const keepNodes = new Set(msg.nodes.map((n) => n.id));
    const keepEdges = new Set(msg.edges.map((e) => e.id));
    cy.batch(() => {
      cy.edges().filter((e) => !e.hasClass('implicit') && !keepEdges.has(e.id())).remove();
      cy.nodes().filter((n) => !keepNodes.has(n.id())).remove();
      this._upsertNodes(msg.nodes);
      this._upsertEdges(msg.edges);
    });
    this._afterChange();
  }

  applyPatch(msg) {
    const cy = this.cy;
    cy.batch(() => {
      msg.remove.edges.forEach((id) => this.element(id)?.remove());
      msg.remove.nodes.forEach((id) => {
        const n = this.element(id);
        if (n) { this.positions.set(id, { ...n.position() }); n.remove(); }
      });
      this._upsertNodes(msg.add.nodes);
      this._upsertEdges(msg.add.edges);
      [...msg.change.nodes, ...msg.change.edges].forEach((change) => {
        const ele = this.element(change.id);
        if (!ele) return;
        const { id, ...fields } = change;
        ele.data(fields);
        this._decorate(ele);
        if (ele.isNode() && ele.data('kind') === 'exchange') ele.connectedEdges().forEach((e) => this._decorate(e));
      });
    });
    this._afterChange();
  }

  _upsertNodes(nodes) {
    // Parents first: a consumer names its connection as parent.
    const sorted = [...nodes].sort((a, b) => (a.kind === 'connection' ? -1 : 0) - (b.kind === 'connection' ? -1 : 0));
    for (const node of sorted) {
      const existing = this.element(node.id);
      if (existing) { existing.data(node); this._decorate(existing); continue; }
      const data = { ...node };
      if (data.parent && !this.element(data.parent)) delete data.parent;
      const added = this.cy.add({ group: 'nodes', data, position: this.positions.get(node.id) ?? { x: 0, y: 0 } });
      added.data('placed', this.positions.has(node.id));
      this._decorate(added);
    }
  }

  _upsertEdges(edges) {
    for (const edge of edges) {
      const existing = this.element(edge.id);
      if (existing) { existing.data(edge); this._decorate(existing); continue; }
      if (!this.element(edge.source) || !this.element(edge.target)) continue;
      this._decorate(this.cy.add({ group: 'edges', data: { ...edge } }));
    }
  }

  _afterChange() {
    this._syncImplicitEdges();
    this.applyFilters();
    if (this.needsLayout) { this.relayout(); this.needsLayout = false; return; }
    this.cy.nodes().filter((n) => !n.data('placed') && n.data('kind') !== 'connection').forEach((n) => {
      n.position(placeNear(this.cy, n));
      n.data('placed', true);
      this.positions.set(n.id(), { ...n.position() });
    });
  }

  /** The default exchange's implicit binding per queue: drawn only when asked for. */
  _syncImplicitEdges() {
    const cy = this.cy;
    const defaultExchange = this.element('exchange:');
    const want = this.options.implicit && defaultExchange;
    cy.batch(() => {
      const queues = new Set();
      if (want) {
        cy.nodes().forEach((q) => {
          if (q.data('kind') !== 'queue') return;
          // A feature (Celery flow) may already draw this binding as a real edge.
          if (q.incomers('edge').some((e) => e.source().id() === 'exchange:' && !e.hasClass('implicit'))) return;
          const id = `implicit:${q.id()}`;
          queues.add(id);
          if (!this.element(id)) {
            const edge = cy.add({ group: 'edges', classes: 'implicit', data: {
              id, kind: 'binding', source: 'exchange:', target: q.id(), routing_key: q.data('name'), arguments: {}, implicit: true,
            } });
            this._decorate(edge);
          }
        });
      }
      cy.edges('.implicit').filter((e) => !queues.has(e.id())).remove();
    });
  }

  setOption(name, value) {
    this.options[name] = value;
    this._syncImplicitEdges();
    this.applyFilters();
    this.relayout();
  }

  /** Hide what the toggles hide. Unused amq.* exchanges hide unless asked for. */
  applyFilters() {
    const { plumbing, builtin, consumers } = this.options;
    this.cy.batch(() => {
      this.cy.nodes().forEach((n) => {
        const d = n.data();
        let hide = !plumbing && d.plumbing;
        if (!consumers && (d.kind === 'consumer' || d.kind === 'connection')) hide = true;
        n.toggleClass('hidden', Boolean(hide));
      });
      this.cy.nodes().forEach((n) => {
        const d = n.data();
        if (d.kind === 'exchange' && d.builtin && !d.default && !builtin) {
          const used = n.connectedEdges().some((e) => !e.hasClass('implicit') && !e.source().hasClass('hidden') && !e.target().hasClass('hidden'));
          n.toggleClass('hidden', !used);
        }
        if (d.kind === 'connection' && !n.hasClass('hidden')) {
          n.toggleClass('hidden', n.children().every((c) => c.hasClass('hidden')));
        }
      });
    });
  }

  visibleNodes() { return this.cy.nodes().filter((n) => !n.hasClass('hidden')); }

  relayout() {
    const positions = layoutAll(this.cy, this.visibleNodes());
    this.cy.batch(() => {
      positions.forEach((p, id) => {
        const n = this.element(id);
        n.position(p);
        n.data('placed', true);
        this.positions.set(id, p);
      });
      this.cy.nodes().forEach((n) => { if (!positions.has(n.id()) && n.data('kind') !== 'connection') n.data('placed', false); });
    });
    this.fit();
  }

  fit() {
    this.cy.resize();
    this.cy.fit(this.visibleNodes(), 40);
    // A handful of nodes would fill the screen with giant shapes: keep them at a readable size.
    if (this.cy.zoom() > 1.2) this.cy.zoom({ level: 1.2, renderedPosition: { x: this.cy.width() / 2, y: this.cy.height() / 2 } });
  }
  zoomBy(factor) {
    const cy = this.cy;
    cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  }

  /** Centre on a node (or edge) and select it. */
  focus(id, { zoom = 1.1 } = {}) {
    const ele = this.element(id);
    if (!ele) return false;
    this.cy.elements().unselect();
    ele.select();
    this.cy.animate({ center: { eles: ele }, zoom: Math.max(this.cy.zoom(), zoom) }, { duration: 300 });
    return true;
  }

  /** Mark ids with a class (e.g. a routed path) and dim everything else while set. */
  highlight(ids, { dimOthers = true, className = 'highlight' } = {}) {
    this.clearHighlight(className);
    const set = this.cy.collection();
    ids.forEach((id) => { const e = this.element(id); if (e) set.merge(e); });
    this.cy.batch(() => {
      set.addClass(className);
      if (dimOthers && set.nonempty()) this.cy.elements().not(set).not(set.parents()).addClass('dimmed');
    });
    return set;
  }

  clearHighlight(className = 'highlight') {
    this.cy.batch(() => { this.cy.elements().removeClass(className).removeClass('dimmed'); });
  }

  /** Severity badge on a node: 'critical' | 'warning' | 'info', or null to clear. */
  setBadge(id, severity) {
    const ele = this.element(id);
    if (!ele) return;
    ele.removeClass('badge-critical badge-warning badge-info');
    if (severity) ele.addClass(`badge-${severity}`);
  }

  clearBadges() { this.cy.nodes().removeClass('badge-critical badge-warning badge-info'); }

  /** Ids of visible nodes whose name contains the text (case-insensitive). */
  search(text) {
    const needle = text.trim().toLowerCase();
    if (!needle) return [];
    return this.visibleNodes().filter((n) => String(displayName(n.data())).toLowerCase().includes(needle)).map((n) => n.id());
  }

  counts() {
    const nodes = this.cy.nodes();
    return {
      exchanges: nodes.filter((n) => n.data('kind') === 'exchange').length,
      queues: nodes.filter((n) => n.data('kind') === 'queue').length,
      consumers: nodes.filter((n) => n.data('kind') === 'consumer').length,
      bindings: this.cy.edges().filter((e) => e.data('kind') === 'binding' && !e.hasClass('implicit')).length,
    };
  }
}
