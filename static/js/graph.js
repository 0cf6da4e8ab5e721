// The Cytoscape wrapper: turns snapshots and patches into elements in place, keeps node
// positions across patches, applies the view toggles, picks the level of detail for the zoom,
// keeps edge labels from covering one another, shows findings as badges with a tooltip, and
// shows traffic (edge width, moving markers). A patch costs in proportion to what it carries:
// nothing here rescans the whole graph unless the whole graph changed (snapshot, toggle,
// re-layout). Elements are looked up with getElementById, never selectors built from names.
import cytoscape from '../vendor/cytoscape-3.34.4/cytoscape.esm.min.mjs';
import { FONT, LINE, SIZE, findSlot, layoutGraph } from './layout.js';
import { FONT_FAMILY, LOD_IDS, STYLE, depthFill, exchangeWidth, labelFor, lodFont, lodFor, shortLabel } from './graph-style.js';
import { LabelPlanner, edgeLabelBox } from './placement.js';
import { FlowLayer, edgeFlow } from './flow.js';
import { Tooltip, edgeLines, nodeLines } from './tooltip.js';
import { displayName } from './format.js';
import { severityRank, vocabulary } from './vocabulary.js';
import { GroupFolder } from './groups.js';

export { STYLE, labelFor } from './graph-style.js';

const GRAPH_KINDS = new Set(['exchange', 'queue', 'consumer', 'connection', 'worker', 'group']);
const FIT_PADDING = 24;
const MAX_FIT_ZOOM = 1.25;
const BADGES = ['critical', 'warning', 'info'];
const BADGE_CLASSES = BADGES.map((s) => `badge-${s}`).join(' ');
const LOD_CLASSES = [...LOD_IDS, 'none'].map((id) => `lod-${id}`).join(' ');
const EDGE_LABEL_PAD = 2;
const EDGE_LABEL_LODS = new Set(LOD_IDS.slice(0, 2)); // where edge labels are drawn

const isGraphNode = (n) => GRAPH_KINDS.has(n.data('kind'));

/** A group is filled by its members' mean depth (its total would read every big group as full). */
function groupMean(d) {
  const known = (d.count ?? 0) - (d.unknown_depths ?? 0);
  return { messages_ready: known > 0 && d.messages_ready !== null ? d.messages_ready / known : null };
}

/** Text widths as the canvas draws them (Cytoscape uses the same font). */
function textMeasurer() {
  const ctx = document.createElement('canvas').getContext('2d');
  const cache = new Map();
  return (text, size, weight = 'normal') => {
    const key = `${weight} ${size}\n${text}`;
    if (!cache.has(key)) {
      ctx.font = `${weight} ${size}px ${FONT_FAMILY}`;
      if (cache.size > 5000) cache.clear();
      cache.set(key, Math.max(0, ...String(text).split('\n').map((line) => ctx.measureText(line).width)));
    }
    return cache.get(key);
  };
}

/** Where a line from a box's centre towards `toward` leaves the box. */
function exitPoint(centre, halfW, halfH, toward) {
  const dx = toward.x - centre.x;
  const dy = toward.y - centre.y;
  if (!dx && !dy) return { ...centre };
  const scale = 1 / Math.max(Math.abs(dx) / halfW, Math.abs(dy) / halfH);
  return { x: centre.x + dx * scale, y: centre.y + dy * scale };
}

export class Graph {
  constructor(container) {
    this.container = container;
    this.cy = cytoscape({ container, style: STYLE, minZoom: 0.02, maxZoom: 3, boxSelectionEnabled: false });
    this.options = { plumbing: false, implicit: false, builtin: false, consumers: true };
    this.positions = new Map(); // id -> {x,y}: survives re-adds, so a node that comes back returns home
    this.needsLayout = true;
    this.findings = new Map(); // node id -> its findings
    this.groups = new GroupFolder(); // a big vhost's name groups: what is folded, what is drawn
    this.lod = 'full';
    this.autoFit = true; // until the person moves the view themselves
    this.leftRoom = 0; // pixels kept free left of the fitted graph (setLeftRoom)
    this._programmatic = 0;
    this.labels = new LabelPlanner();
    this.plannedFont = FONT.edge; // edge labels are placed for this size
    this.labelsPlanned = false;
    this.measure = textMeasurer();
    this.tally = { exchange: 0, queue: 0, consumer: 0, worker: 0, binding: 0, folded: 0 };
    const wrap = container.parentElement ?? container;
    this.flow = new FlowLayer(this, wrap);
    this.tooltip = new Tooltip(wrap);
    this._watch();
    // Cytoscape caches its container's size: keep it in step with the page's layout, and keep
    // the graph fitted while nobody has moved the view.
    new ResizeObserver(() => {
      this.cy.resize();
      this.flow.resize();
      if (this.autoFit && this.cy.nodes().nonempty()) this.fit({ auto: true });
    }).observe(container);
  }

  element(id) { const e = this.cy.getElementById(id); return e.nonempty() ? e : null; }

  /** Whether an element is drawn (not filtered out, and both ends drawn for an edge). */
  isShown(ele) {
    if (ele.hasClass('hidden')) return false;
    return ele.isNode() || (!ele.source().hasClass('hidden') && !ele.target().hasClass('hidden'));
  }

  // ---- events --------------------------------------------------------------------------------------

  _watch() {
    const cy = this.cy;
    cy.on('viewport', () => {
      if (!this._programmatic) this.autoFit = false;
      this.tooltip.hide();
      this._syncLod();
    });
    cy.on('add', (evt) => this._count(evt.target, 1));
    cy.on('remove', (evt) => this._count(evt.target, -1));
    cy.on('mouseover', 'node, edge', (evt) => this._hover(evt));
    cy.on('mouseout', 'node, edge', () => this.tooltip.hide());
    cy.on('grab', 'node', () => this.tooltip.hide());
    cy.on('dragfree', 'node', (evt) => this._moved(evt.target));
    this.container.addEventListener('mouseleave', () => this.tooltip.hide());
  }

  _count(ele, sign) {
    const d = ele.data();
    if (ele.isEdge()) {
      if (d.kind === 'binding' && !d.implicit) this.tally.binding += sign * (d.folded ?? 1); // a folded edge stands for several
      return;
    }
    if (d.kind in this.tally) this.tally[d.kind] += sign;
    if (d.kind === 'worker') this.tally.folded += sign * (d.consumers?.length ?? 0);
    if (d.kind === 'group') this._countGroup(d, sign);
  }

  /** A folded group counts as its members in the status bar's figures. */
  _countGroup(d, sign) {
    if (d.member_kind in this.tally) this.tally[d.member_kind] += sign * (d.count ?? 0);
    this.tally.consumer += sign * (d.consumers ?? 0);
  }

  _hover(evt) {
    const ele = evt.target;
    const d = ele.data();
    if (ele.isNode() && !GRAPH_KINDS.has(d.kind)) return;
    const lines = ele.isNode() ? nodeLines(d, this.findingsOf(ele)) : edgeLines(d, ele.source().data(), ele.target().data());
    const at = evt.renderedPosition ?? ele.renderedPosition?.() ?? { x: 0, y: 0 };
    this.tooltip.show(at.x, at.y, lines);
  }

  /** A node dragged by hand: it stays there, and labels around it make room. */
  _moved(node) {
    const moved = node.isParent() ? node.children().union(node) : node.union(node.parent());
    moved.forEach((n) => { if (isGraphNode(n) && !n.isParent()) this.positions.set(n.id(), { ...n.position() }); });
    this._relabel(moved, moved.connectedEdges());
  }

  // ---- level of detail -------------------------------------------------------------------------------

  _syncLod() {
    const lod = lodFor(this.cy.zoom());
    if (lod !== this.lod) this._setLod(lod);
    const font = this._edgeFont();
    if (font && (font !== this.plannedFont || !this.labelsPlanned)) this._planLabels();
  }

  _setLod(lod) {
    this.lod = lod;
    this.cy.batch(() => {
      // Labels first, then the class that shows them.
      if (lod !== 'full' && lod !== 'none') this.cy.nodes().forEach((n) => { if (isGraphNode(n)) n.data('short', this._short(n)); });
      const all = this.cy.elements();
      all.removeClass(LOD_CLASSES);
      if (lod !== 'full') all.addClass(`lod-${lod}`);
    });
  }

  /** The size edge labels are drawn at, at this level of detail (null: not drawn). */
  _edgeFont() {
    return EDGE_LABEL_LODS.has(this.lod) ? lodFont(this.lod) : null;
  }

  /** The node's label at the current (reduced) level of detail. */
  _short(n) {
    const d = n.data();
    let connection;
    if (d.kind === 'consumer' && n.parent().nonempty() && n.siblings().empty()) connection = n.parent().data('label');
    const box = d.kind === 'connection' ? { w: SIZE.consumer.w + 2 * SIZE.connection.pad, h: SIZE.connection.label } : { w: n.width(), h: n.height() };
    return shortLabel(d, lodFont(this.lod), box, { connection, measure: this.measure });
  }

  _lodClass(ele) {
    if (this.lod !== 'full') ele.addClass(`lod-${this.lod}`);
  }

  // ---- snapshots and patches -------------------------------------------------------------------------

  _decorate(ele) {
    const d = ele.data();
    if (ele.isEdge()) {
      ele.data('display', labelFor(d, { sourceType: ele.source().data('type'), targetName: ele.target().data('name') }));
      return;
    }
    const extra = { display: labelFor(d, { measure: this.measure }) };
    if (d.kind === 'queue') Object.assign(extra, depthFill(d));
    if (d.kind === 'group' && d.member_kind === 'queue') Object.assign(extra, depthFill(groupMean(d)));
    if (d.kind === 'exchange' && !d.boxW) extra.boxW = exchangeWidth(d, this.measure); // fixed once: the layout counts on it
    ele.data(extra);
    if (this.lod !== 'full' && this.lod !== 'none' && GRAPH_KINDS.has(d.kind)) ele.data('short', this._short(ele));
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
    this._draw(this.groups.snapshot(msg));
  }

  /** Draw this graph (a snapshot, as the folder draws it), keeping positions of nodes still there. */
  _draw(msg) {
    const cy = this.cy;
    this._tuneForSize(msg.nodes.length + msg.edges.length);
    const keepNodes = new Set(msg.nodes.map((n) => n.id));
    const keepEdges = new Set(msg.edges.map((e) => e.id));
    cy.batch(() => {
      cy.edges().filter((e) => !e.hasClass('implicit') && !keepEdges.has(e.id())).remove();
      cy.nodes().filter((n) => isGraphNode(n) && !keepNodes.has(n.id())).remove();
      this._upsertNodes(msg.nodes);
      this._upsertEdges(msg.edges);
    });
    this._syncImplicitEdges();
    this.applyFilters();
    this._updateFlows(cy.edges());
    if (this.needsLayout) { this.needsLayout = false; this.relayout(); return; }
    this._placeNew(cy.nodes().filter((n) => isGraphNode(n) && !n.data('placed')));
    this.labelsPlanned = false;
    this._syncLod();
  }

  applyPatch(msg) {
    const drawn = this.groups.patch(msg);
    if (drawn.rebuild) this._draw(this.groups.drawn()); // groups formed, split or went: draw again
    else this._applyDrawn(drawn);
  }

  /** Draw a folded group member by member; the graph is laid out again and the view moves to
   * the members. A click, not a patch: a full layout is what keeps the members together. */
  expand(groupId) {
    const patch = this.groups.expand(groupId);
    if (!patch) return false;
    this._applyDrawn(patch);
    this.relayout();
    const members = this.cy.collection(patch.add.nodes.map((n) => this.element(n.id)).filter((n) => n && this.isShown(n)));
    if (members.nonempty()) this._view(() => this.cy.fit(members, 40));
    this.onGroupsChanged?.();
    return true;
  }

  /** Fold a group back into one node (null: every expanded group). */
  collapse(groupId = null) {
    const patch = groupId === null ? this.groups.collapseAll() : this.groups.collapse(groupId);
    if (!patch) return false;
    this._applyDrawn(patch);
    this.relayout();
    this.onGroupsChanged?.();
    return true;
  }

  /** A view change made by the page, not the person. */
  _view(change) {
    this._programmatic += 1;
    try { change(); } finally { this._programmatic -= 1; }
    this._syncLod();
  }

  _applyDrawn(msg) {
    const cy = this.cy;
    const touched = { added: cy.collection(), changed: cy.collection(), recheck: new Set(), implicit: new Set(), flows: cy.collection() };
    cy.batch(() => {
      msg.remove.edges.forEach((id) => { const e = this.element(id); if (e) this._removeEdge(e, touched); });
      msg.remove.nodes.forEach((id) => { const n = this.element(id); if (n) this._removeNode(n, touched); });
      touched.added = touched.added.union(this._upsertNodes(msg.add.nodes)).union(this._upsertEdges(msg.add.edges));
      [...msg.change.nodes, ...msg.change.edges].forEach((change) => this._change(change, touched));
    });
    this._afterPatch(touched);
  }

  _removeEdge(edge, touched) {
    [edge.source(), edge.target()].forEach((end) => { touched.recheck.add(end.id()); touched.flows.merge(end.connectedEdges()); });
    this.flow.forget(edge.id());
    this._unlabel(edge.id());
    edge.remove();
  }

  _removeNode(node, touched) {
    this.positions.set(node.id(), { ...node.position() });
    node.connectedEdges().forEach((e) => this._removeEdge(e, touched));
    if (node.parent().nonempty()) touched.recheck.add(node.parent().id());
    this._unlabel(node.id(), true);
    node.remove();
  }

  _change(change, touched) {
    const ele = this.element(change.id);
    if (!ele) return;
    const { id: _id, ...fields } = change;
    if (ele.isNode() && ele.data('kind') === 'worker' && 'consumers' in fields) {
      this.tally.folded += (fields.consumers?.length ?? 0) - (ele.data('consumers')?.length ?? 0);
    }
    if (ele.isEdge() && 'folded' in fields && ele.data('kind') === 'binding') this.tally.binding += fields.folded - (ele.data('folded') ?? 1);
    if (ele.isNode() && ele.data('kind') === 'group') {
      this._countGroup(ele.data(), -1);
      this._countGroup({ ...ele.data(), ...fields }, 1);
    }
    ele.data(fields);
    this._decorate(ele);
    touched.changed.merge(ele);
    if (ele.isEdge()) return;
    if ('rates' in fields || 'consumers' in fields) touched.flows.merge(ele.connectedEdges());
    if ('type' in fields && ele.data('kind') === 'exchange') ele.connectedEdges().forEach((e) => this._decorate(e));
    if ('default_routed' in fields) touched.implicit.add(ele.id());
    if ('plumbing' in fields) touched.recheck.add(ele.id());
  }

  _afterPatch(touched) {
    const added = touched.added;
    const addedNodes = added.nodes();
    if (addedNodes.some((n) => n.data('default'))) this._syncImplicitEdges();
    else {
      addedNodes.forEach((n) => { if (n.data('kind') === 'queue') touched.implicit.add(n.id()); });
      touched.implicit.forEach((id) => { const q = this.element(id); if (q) this._syncImplicitFor(q, this._defaultExchange()); });
    }
    // Filters: for what arrived, and for what its arrival (or a departure) may have changed.
    addedNodes.forEach((n) => this._filterNode(n));
    added.edges().forEach((e) => { touched.recheck.add(e.source().id()); touched.recheck.add(e.target().id()); });
    addedNodes.forEach((n) => { if (n.parent().nonempty()) touched.recheck.add(n.parent().id()); });
    touched.recheck.forEach((id) => { const n = this.element(id); if (n) this._refilter(n); });
    added.edges().forEach((e) => touched.flows.merge(e.target().connectedEdges()).merge(e.source().connectedEdges()));
    this._updateFlows(touched.flows.union(added.edges()));
    const fresh = this.cy.collection();
    touched.recheck.forEach((id) => { const n = this.element(id); if (n && !n.data('placed') && this.isShown(n)) fresh.merge(n); });
    this._placeNew(addedNodes.union(fresh).filter((n) => !n.data('placed')));
    this._relabel(addedNodes.union(fresh), added.edges());
  }

  _upsertNodes(nodes) {
    // Parents first: a consumer names its connection as parent.
    const sorted = [...nodes].sort((a, b) => (a.kind === 'connection' ? -1 : 0) - (b.kind === 'connection' ? -1 : 0));
    const added = [];
    for (const node of sorted) {
      const existing = this.element(node.id);
      if (existing) { existing.data(node); this._decorate(existing); continue; }
      const data = { ...node };
      if (data.parent && !this.element(data.parent)) delete data.parent;
      const home = this.positions.get(node.id);
      const ele = this.cy.add({ group: 'nodes', data, position: home ?? { x: 0, y: 0 } });
      ele.data('placed', Boolean(home));
      this._lodClass(ele);
      this._decorate(ele);
      this._showBadge(ele);
      added.push(ele);
    }
    return this.cy.collection(added);
  }

  _upsertEdges(edges) {
    const added = [];
    for (const edge of edges) {
      const existing = this.element(edge.id);
      if (existing) { existing.data(edge); this._decorate(existing); continue; }
      if (!this.element(edge.source) || !this.element(edge.target)) continue;
      const ele = this.cy.add({ group: 'edges', data: { ...edge } });
      this._lodClass(ele);
      this._decorate(ele);
      added.push(ele);
    }
    return this.cy.collection(added);
  }

  // ---- implicit default-exchange bindings --------------------------------------------------------------

  _defaultExchange() {
    const id = 'exchange:';
    const known = this.element(id);
    if (known?.data('default')) return known;
    return this.cy.nodes().filter((n) => n.data('kind') === 'exchange' && n.data('default')).first();
  }

  /** The default exchange's implicit binding of one queue: drawn when asked for, and always for
   * a queue the server marks as sent to through it (Celery's usual way). Only the page draws
   * these; the server says which and under what id prefix. */
  _syncImplicitFor(queue, defaultExchange) {
    const id = `${vocabulary.implicit_binding_prefix}${queue.id()}`;
    const wanted = defaultExchange?.nonempty()
      && (this.options.implicit || queue.data('default_routed') || this.routeImplicit?.has(queue.id()));
    const existing = this.element(id);
    if (wanted && !existing) {
      const edge = this.cy.add({ group: 'edges', classes: 'implicit', data: {
        id, kind: 'binding', source: defaultExchange.id(), target: queue.id(), routing_key: queue.data('name'), arguments: {}, implicit: true,
      } });
      this._lodClass(edge);
      this._decorate(edge);
      this._updateFlows(queue.incomers('edge'));
    } else if (!wanted && existing) {
      this.flow.forget(id);
      existing.remove();
    }
  }

  /** Also draw the implicit bindings a route answer passes (its hops' queue ids, [] for none). */
  showRouteImplicit(queueIds) {
    this.routeImplicit = new Set(queueIds);
    this._syncImplicitEdges();
  }

  _syncImplicitEdges() {
    const defaultExchange = this._defaultExchange();
    this.cy.batch(() => {
      this.cy.nodes().forEach((n) => { if (n.data('kind') === 'queue') this._syncImplicitFor(n, defaultExchange); });
      if (!defaultExchange?.nonempty()) this.cy.edges('.implicit').remove();
    });
  }

  // ---- view toggles ------------------------------------------------------------------------------------

  setOption(name, value) {
    this.options[name] = value;
    this._syncImplicitEdges();
    this.applyFilters();
    this.relayout();
  }

  /** Hidden by its own kind or flags: plumbing, and consumers when they are switched off. */
  _filterNode(n) {
    const d = n.data();
    if (!GRAPH_KINDS.has(d.kind)) return;
    const { plumbing, consumers } = this.options;
    const hide = (!plumbing && d.plumbing) || (!consumers && (d.kind === 'consumer' || d.kind === 'connection'));
    n.toggleClass('hidden', Boolean(hide));
  }

  /** Hidden by its neighbours: an unused amq.* exchange, a connection with nothing shown in it. */
  _refilter(n) {
    const d = n.data();
    this._filterNode(n);
    if (d.kind === 'exchange' && d.builtin && !d.default && !this.options.builtin && !n.hasClass('hidden')) {
      const used = n.connectedEdges().some((e) => !e.hasClass('implicit') && !e.source().hasClass('hidden') && !e.target().hasClass('hidden'));
      n.toggleClass('hidden', !used);
    }
    if (d.kind === 'connection' && !n.hasClass('hidden')) {
      n.toggleClass('hidden', n.children().every((c) => c.hasClass('hidden')));
    }
  }

  /** Hide what the toggles hide, over the whole graph. Unused amq.* exchanges hide unless asked for. */
  applyFilters() {
    this.cy.batch(() => {
      this.cy.nodes().forEach((n) => this._filterNode(n));
      this.cy.nodes().forEach((n) => { const k = n.data('kind'); if (k === 'exchange' || k === 'connection') this._refilter(n); });
    });
  }

  /** Nodes of the graph that are drawn (not markers or other decorations). */
  visibleNodes() { return this.cy.nodes().filter((n) => isGraphNode(n) && !n.hasClass('hidden')); }

  // ---- traffic ------------------------------------------------------------------------------------------

  /** Recompute the message rate of these edges from their ends' figures (width and markers). */
  _updateFlows(edges) {
    edges.forEach((e) => {
      if (e.removed()) return;
      const d = e.data();
      const source = e.source();
      const target = e.target();
      if (!source.data('rates') && !target.data('rates')) { // no figures at either end: nothing to show
        if (d.flow !== undefined && d.flow !== null) e.data('flow', null);
        this.flow.setRate(e.id(), null);
        return;
      }
      let siblings = null;
      if (d.kind === 'binding' && target.data('kind') === 'queue') {
        siblings = target.incomers('edge').filter((x) => x.data('kind') === 'binding').map((x) => x.source().data());
      } else if (d.kind === 'consumes') {
        siblings = source.outgoers('edge').filter((x) => x.data('kind') === 'consumes').length;
      }
      const flow = edgeFlow(d, source.data(), target.data(), siblings);
      if (flow !== d.flow) e.data('flow', flow);
      const markerKind = d.kind === 'consumes' ? 'consumes' : target.data('kind') === 'exchange' ? 'exchange' : 'binding';
      this.flow.setRate(e.id(), flow, markerKind);
    });
  }

  // ---- layout --------------------------------------------------------------------------------------------

  /** Extent of a node for the layout: labels are inside the shapes, so its shape. */
  _extent(n) {
    return { w: n.width(), above: n.height() / 2, below: n.height() / 2 };
  }

  _aspect() {
    const w = Math.max(200, this.cy.width() - 2 * FIT_PADDING);
    const h = Math.max(150, this.cy.height() - 2 * FIT_PADDING);
    return w / h;
  }

  relayout() {
    const shown = this.visibleNodes();
    const placeable = shown.filter((n) => n.data('kind') !== 'connection');
    const nodes = placeable.map((n) => {
      const d = n.data();
      const parent = n.parent().nonempty() && !n.parent().hasClass('hidden') ? n.parent().id() : null;
      const kind = d.kind === 'group' ? d.member_kind : d.kind; // a group stands in its members' layer
      return { id: n.id(), kind, name: displayName(d), parent, builtin: d.builtin, isDefault: d.default, ...this._extent(n) };
    });
    const ids = new Set(nodes.map((n) => n.id));
    const edges = this.cy.edges().filter((e) => ids.has(e.source().id()) && ids.has(e.target().id()))
      .map((e) => ({ source: e.source().id(), target: e.target().id(), kind: e.data('kind') }));
    const groups = {};
    shown.filter((n) => n.data('kind') === 'connection').forEach((n) => { groups[n.id()] = { name: displayName(n.data()) }; });
    const positions = layoutGraph(nodes, edges, { groups, aspect: this._aspect() });
    this.cy.batch(() => {
      positions.forEach((p, id) => {
        const n = this.element(id);
        n.position(p);
        n.data('placed', true);
        this.positions.set(id, p);
      });
      this.cy.nodes().forEach((n) => { if (isGraphNode(n) && !positions.has(n.id()) && n.data('kind') !== 'connection') n.data('placed', false); });
    });
    this.labels.clear();
    this.labelsPlanned = false; // planned by the fit, for the level of detail it lands on
    this.fit();
    this._syncLod();
  }

  /** Layer of a kind, as the layout sees it: nodes of one layer share columns. */
  _layerMates(n) {
    const layer = (m) => (m.data('kind') === 'group' ? m.data('member_kind') : m.data('kind'));
    const kind = layer(n);
    const consuming = kind === 'consumer' || kind === 'worker';
    return this.cy.nodes().filter((m) => m !== n && m.data('placed') && !m.hasClass('hidden') && !m.isParent()
      && (consuming ? (layer(m) === 'consumer' || layer(m) === 'worker') : layer(m) === kind));
  }

  /** A free spot for each new node near its neighbours, in its layer's column; nothing else moves. */
  _placeNew(nodes) {
    const order = { exchange: 0, queue: 1, worker: 2, consumer: 2 };
    const rank = (n) => order[n.data('kind') === 'group' ? n.data('member_kind') : n.data('kind')] ?? 3;
    const todo = nodes.filter((n) => isGraphNode(n) && n.data('kind') !== 'connection' && this.isShown(n))
      .sort((a, b) => rank(a) - rank(b));
    if (!todo.length) return;
    const placed = this.cy.collection();
    todo.forEach((n) => {
      const p = this._slotFor(n);
      n.position(p);
      n.data('placed', true);
      this.positions.set(n.id(), p);
      placed.merge(n);
    });
    if (this.autoFit && this._outsideView(placed)) this.fit({ auto: true });
  }

  _slotFor(n) {
    const kind = n.data('kind') === 'group' ? n.data('member_kind') : n.data('kind');
    const { w, above, below } = this._extent(n);
    const siblings = n.parent().nonempty() ? n.siblings().filter((s) => s.data('placed')) : this.cy.collection();
    const neighbours = n.neighborhood('node').filter((m) => m.data('placed') && !m.hasClass('hidden'));
    const anchor = siblings.nonempty() ? siblings : neighbours;
    const want = anchor.nonempty() ? anchor.reduce((sum, m) => sum + m.position('y'), 0) / anchor.length : 0;
    const mates = this._layerMates(n);
    let columns = [...new Set(mates.map((m) => Math.round(m.position('x'))))];
    if (siblings.nonempty()) columns = [Math.round(siblings.first().position('x'))];
    if (!columns.length) {
      const ref = neighbours.nonempty() ? neighbours.first() : null;
      const side = kind === 'exchange' ? -1 : 1;
      columns = [ref ? ref.position('x') + side * ((ref.width() + w) / 2 + 150) : 0];
    }
    // A new connection needs room for its label and padding around its consumer.
    const header = kind === 'consumer' && siblings.empty() && n.parent().nonempty() ? SIZE.connection.label + SIZE.connection.pad : 0;
    let best = null;
    for (const x of columns) {
      const taken = [];
      const band = { x1: x - w / 2, x2: x + w / 2 };
      this.cy.nodes().forEach((m) => {
        if (m === n || !isGraphNode(m) || m.hasClass('hidden') || (!m.data('placed') && !m.isParent()) || m === n.parent()) return;
        const box = m.boundingBox({ includeLabels: true, includeOverlays: false });
        if (box.x1 < band.x2 && box.x2 > band.x1) taken.push([box.y1, box.y2]);
      });
      // The slot holds the node's extent, with room above for a new connection's header.
      const room = header ? SIZE.connection.pad : 0;
      const height = header + above + below + room;
      const offset = header + above - height / 2; // node position relative to the slot's centre
      const y = findSlot(want - offset, height, taken) + offset;
      const cost = Math.abs(y - want) + Math.abs(x - columns[0]) * 0.05;
      if (!best || cost < best.cost) best = { x, y, cost };
    }
    return { x: best.x, y: best.y };
  }

  _outsideView(nodes) {
    const ext = this.cy.extent();
    return nodes.some((n) => {
      const b = n.boundingBox({ includeLabels: true });
      return b.x1 < ext.x1 || b.x2 > ext.x2 || b.y1 < ext.y1 || b.y2 > ext.y2;
    });
  }

  // ---- edge labels ----------------------------------------------------------------------------------------

  /** The box a node covers, labels included (model coordinates). */
  _obstacle(n) {
    if (n.isParent()) {
      const b = n.boundingBox({ includeLabels: false, includeOverlays: false });
      return { x1: b.x1, y1: b.y1 - SIZE.connection.label, x2: b.x2, y2: b.y2 };
    }
    const p = n.position();
    const w = n.width() / 2;
    const h = n.height() / 2;
    return { x1: p.x - w, y1: p.y - h, x2: p.x + w, y2: p.y + h };
  }

  _labelBox(edge) {
    const text = edge.data('display');
    if (!text || !this.isShown(edge)) return null;
    const source = edge.source();
    const target = edge.target();
    const font = this.plannedFont;
    const width = this.measure(text, font) + 2 * EDGE_LABEL_PAD + 2;
    const height = font * LINE + 2 * EDGE_LABEL_PAD;
    const end = exitPoint(target.position(), target.width() / 2, target.height() / 2, source.position());
    return edgeLabelBox(source.position(), end, width, height, this._obstacle(target));
  }

  _showLabel(edge, placed) {
    edge.toggleClass('label-crowded', !placed);
  }

  _placeLabel(edge) {
    const planned = this._labelBox(edge);
    if (!planned) { this._unlabel(edge.id()); return; }
    edge.data('labelOffset', planned.offset);
    this._showLabel(edge, this.labels.place(edge.id(), planned.box));
  }

  _unlabel(id, isNode = false) {
    if (!this.labelsPlanned) return;
    const freed = isNode ? this.labels.removeObstacle(id) : this.labels.removeLabel(id);
    freed.forEach((labelId) => this.element(labelId)?.removeClass('label-crowded'));
  }

  /** Everything from scratch: after a layout, a snapshot or a toggle. */
  _planLabels() {
    this.labels.clear();
    // Edge labels are drawn only when zoomed in enough: until then, nothing to place (a big
    // graph fitted to the window never pays for it); the zoom that shows them plans them.
    this.labelsPlanned = Boolean(this._edgeFont());
    if (!this.labelsPlanned) return;
    this.plannedFont = this._edgeFont();
    this.cy.batch(() => {
      this.visibleNodes().forEach((n) => this.labels.setObstacle(n.id(), this._obstacle(n)));
      const edges = this.cy.edges().filter((e) => e.data('display')).sort((a, b) => this._labelRank(a) - this._labelRank(b));
      edges.forEach((e) => this._placeLabel(e));
    });
  }

  _labelRank(edge) {
    const kind = edge.data('kind');
    return kind === 'binding' ? 0 : kind === 'dead-letter' ? 1 : 2;
  }

  /** Some nodes arrived or moved, and some edges arrived: their labels and what they cover. */
  _relabel(nodes, edges) {
    if (!this.labelsPlanned) return; // planned as a whole when the zoom shows edge labels
    this.cy.batch(() => {
      nodes.forEach((n) => {
        if (!isGraphNode(n)) return;
        if (n.hasClass('hidden')) { this._unlabel(n.id(), true); return; }
        const { hide, show } = this.labels.setObstacle(n.id(), this._obstacle(n));
        hide.forEach((id) => this.element(id)?.addClass('label-crowded'));
        show.forEach((id) => this.element(id)?.removeClass('label-crowded'));
        if (n.parent().nonempty()) {
          const parent = n.parent();
          const { hide: covered } = this.labels.setObstacle(parent.id(), this._obstacle(parent));
          covered.forEach((id) => this.element(id)?.addClass('label-crowded'));
        }
      });
      edges.filter((e) => e.data('display')).forEach((e) => this._placeLabel(e));
    });
  }

  // ---- the view --------------------------------------------------------------------------------------------

  /** Fit the drawn graph to the canvas. `auto`: the page did it, not the person (the view
   * keeps following the graph only until the person moves it). */
  fit({ auto = false } = {}) {
    const cy = this.cy;
    const eles = this.visibleNodes();
    cy.resize();
    if (eles.empty() || !cy.width() || !cy.height()) return;
    this._programmatic += 1;
    try {
      for (let pass = 0; pass < 2; pass++) { // the level of detail changes label sizes: settle it
        // Labels are inside their shapes (a connection's sits in the padding above it).
        const bb = eles.boundingBox({ includeLabels: false, includeOverlays: false });
        const left = this.leftRoom;
        const w = cy.width() - 2 * FIT_PADDING - left;
        const h = cy.height() - 2 * FIT_PADDING;
        const zoom = Math.max(cy.minZoom(), Math.min(MAX_FIT_ZOOM, w / Math.max(1, bb.w), h / Math.max(1, bb.h)));
        const pan = { x: left + (cy.width() - left) / 2 - zoom * (bb.x1 + bb.x2) / 2, y: cy.height() / 2 - zoom * (bb.y1 + bb.y2) / 2 };
        cy.viewport({ zoom, pan });
        this._syncLod();
      }
    } finally {
      this._programmatic -= 1;
    }
    if (!auto) this.autoFit = true;
  }

  /** Room kept free left of the graph when it is fitted (pixels): for what a feature draws
   * there (a trace's publishers). The view refits if it still follows the graph. */
  setLeftRoom(pixels) {
    if (pixels === this.leftRoom) return;
    this.leftRoom = pixels;
    if (this.autoFit && this.cy.nodes().nonempty()) this.fit({ auto: true });
  }

  zoomBy(factor) {
    const cy = this.cy;
    cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  }

  /** Centre on a node (or edge) and select it. */
  focus(id, { zoom = 1.1 } = {}) {
    if (!this.element(id) && this.groups.isFolded(id)) this.expand(this.groups.groupOf(id));
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
    ids.forEach((id) => { const e = this.element(id) ?? this._drawnFor(id); if (e) set.merge(e); });
    this.cy.batch(() => {
      set.addClass(className);
      if (dimOthers && set.nonempty()) this.cy.elements().not(set).not(set.parents()).addClass('dimmed');
    });
    return set;
  }

  /** What stands for a folded node or edge on the graph: its group, or the edge folding it. */
  _drawnFor(id) {
    const edge = this.groups.drawnEdgeOf.get(id);
    return this.element(edge ?? this.groups.drawnId(id));
  }

  clearHighlight(className = 'highlight') {
    this.cy.batch(() => { this.cy.elements().removeClass(className).removeClass('dimmed'); });
  }

  // ---- findings --------------------------------------------------------------------------------------------

  /** A node's findings ([{rule, severity, message}]): a badge of the worst severity on the node,
   * and each finding in its tooltip. An empty list clears them. Kept for a node not yet drawn. */
  setFindings(id, findings) {
    if (findings?.length) this.findings.set(id, [...findings]);
    else this.findings.delete(id);
    this._queueBadge(id);
    const group = this.groups.groupOf(id);
    if (group) this._queueBadge(group); // a group shows its members' worst finding
  }

  clearFindings() {
    for (const id of this.findings.keys()) this._queueBadge(id);
    this.findings.clear();
  }

  /** Badges change together, once the caller is done (one restyle for a whole findings frame). */
  _queueBadge(id) {
    if (!this._badgeQueue) {
      this._badgeQueue = new Set();
      queueMicrotask(() => {
        const ids = this._badgeQueue;
        this._badgeQueue = null;
        this.cy.batch(() => ids.forEach((queued) => { const ele = this.element(queued); if (ele) this._showBadge(ele); }));
      });
    }
    this._badgeQueue.add(id);
  }

  /** A node's findings; a folded group's are its members'. */
  findingsOf(ele) {
    if (ele.data('kind') !== 'group') return this.findings.get(ele.id()) ?? [];
    return this.groups.members(ele.id()).flatMap((m) => this.findings.get(m.id) ?? []);
  }

  _showBadge(ele) {
    const findings = this.findingsOf(ele);
    if (BADGES.some((s) => ele.hasClass(`badge-${s}`))) ele.removeClass(BADGE_CLASSES);
    if (!findings?.length) return;
    const worst = findings.reduce((a, f) => (severityRank(f.severity) < severityRank(a) ? f.severity : a), findings[0].severity);
    ele.addClass(`badge-${BADGES.includes(worst) ? worst : 'info'}`);
  }

  /** Severity badge on a node: 'critical' | 'warning' | 'info', or null to clear (no tooltip text). */
  setBadge(id, severity) {
    this.setFindings(id, severity ? [{ rule: '', severity, message: '' }] : []);
  }

  clearBadges() { this.clearFindings(); }

  // ---- reading the graph -------------------------------------------------------------------------------------

  /** Ids of visible nodes whose name contains the text (case-insensitive). */
  search(text) {
    const needle = text.trim().toLowerCase();
    if (!needle) return [];
    const drawn = this.visibleNodes().filter((n) => n.data('kind') !== 'group' && String(displayName(n.data())).toLowerCase().includes(needle)).map((n) => n.id());
    return [...drawn, ...this.groups.foldedMatching(needle)]; // focus() expands a match's group
  }

  /** Figures for the status bar, kept as elements come and go (no scan per patch). */
  counts() {
    const t = this.tally;
    return { exchanges: t.exchange, queues: t.queue, consumers: t.consumer + t.folded, bindings: t.binding, workers: t.worker };
  }
}
