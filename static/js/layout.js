// A layered, left-to-right layout that stays put, on plain data (no Cytoscape here).
//
// Layers: exchanges (by depth of exchange-to-exchange bindings), then queues, then what
// consumes them (consumers grouped by connection, Celery workers). Each layer is ordered to
// keep edges short (barycentre sweeps), a layer taller than the canvas allows is wrapped into
// sub-columns when that lets the graph fill the canvas better, and each node sits level with
// its neighbours as far as the spacing allows. After a full layout, new nodes are slotted in
// near their neighbours (findSlot) and nothing that exists moves.

/** Model sizes of the shapes the graph draws (graph-style.js styles them with the same numbers). */
export const FONT = { node: 13, edge: 13 };
export const LINE = 1.2; // line height, in font sizes
const LABEL_LINES = (lines) => Math.ceil(lines * FONT.node * LINE);
export const SIZE = {
  exchange: { h: LABEL_LINES(2) + 8, minW: 96, maxW: 220, pad: 34 },
  queue: { w: 250, pad: 10 },
  consumer: { w: 170, h: LABEL_LINES(1) + 8 },
  worker: { w: 230, h: LABEL_LINES(3) + 10 },
  connection: { pad: 7, label: LABEL_LINES(1) + 4 },
};

/** A queue box's height: room for its label's lines (2, or 3 for a replicated queue). */
export const queueHeight = (lines) => LABEL_LINES(lines) + SIZE.queue.pad;

export const GAP = { row: 9, member: 5, sub: 40, toConsumers: 64, toLabelled: 140, toExchange: 120 };
const MAX_DEPTH = 6;
const WRAP_PENALTY = 0.97; // each extra sub-column must win by more than this to be worth its crossings

/** A rough label width for layouts (the page passes a real measure when it has one). */
export function approxWidth(text, font = FONT.node) {
  return Math.max(0, ...String(text ?? '').split('\n').map((line) => Array.from(line).length * font * 0.6));
}

// ---- layers -------------------------------------------------------------------------------------

/** Depth of each exchange: 0 unless an exchange binds (or is the alternate of) another exchange. */
export function exchangeDepths(exchangeIds, edges) {
  const isExchange = new Set(exchangeIds);
  const sources = new Map();
  for (const e of edges) {
    if ((e.kind === 'binding' || e.kind === 'alternate') && isExchange.has(e.source) && isExchange.has(e.target) && e.source !== e.target) {
      if (!sources.has(e.target)) sources.set(e.target, []);
      sources.get(e.target).push(e.source);
    }
  }
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0; // a cycle: cut it here
    visiting.add(id);
    let d = 0;
    for (const s of sources.get(id) ?? []) d = Math.max(d, depthOf(s) + 1);
    visiting.delete(id);
    depth.set(id, Math.min(d, MAX_DEPTH));
    return depth.get(id);
  };
  exchangeIds.forEach(depthOf);
  return depth;
}

function nameKey(n) {
  return [n.isDefault ? -1 : 0, n.builtin ? 1 : 0, String(n.name ?? n.id)];
}

function compareKeys(a, b) {
  for (let i = 0; i < a.length; i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return 0;
}

/** Units a layer stacks: one per node, or one per connection holding its consumers. */
function buildUnits(nodes, groups) {
  const units = [];
  const unitOf = new Map();
  const byParent = new Map();
  for (const n of nodes) {
    if (n.kind === 'consumer' && n.parent) {
      if (!byParent.has(n.parent)) {
        const unit = { id: n.parent, kind: 'group', members: [], name: groups[n.parent]?.name ?? n.parent };
        byParent.set(n.parent, unit);
        units.push(unit);
      }
      byParent.get(n.parent).members.push(n);
      unitOf.set(n.id, byParent.get(n.parent));
    } else {
      const unit = { id: n.id, kind: n.kind, members: [n], name: n.name, builtin: n.builtin, isDefault: n.isDefault };
      units.push(unit);
      unitOf.set(n.id, unit);
    }
  }
  for (const unit of units) {
    if (unit.kind === 'group') {
      const { pad, label } = SIZE.connection;
      unit.members.sort((a, b) => String(a.name).localeCompare(String(b.name)));
      unit.w = Math.max(...unit.members.map((m) => m.w)) + 2 * pad;
      unit.h = label + 2 * pad + unit.members.reduce((sum, m) => sum + m.above + m.below, 0) + GAP.member * (unit.members.length - 1);
    } else {
      const [n] = unit.members;
      unit.w = n.w;
      unit.h = n.above + n.below;
    }
  }
  return { units, unitOf };
}

function layerOf(unit, depth, maxDepth) {
  const n = unit.members[0];
  if (n.kind === 'exchange') return depth.get(n.id) ?? 0;
  if (n.kind === 'queue') return maxDepth + 1;
  return maxDepth + 2; // consumers and workers
}

// ---- ordering -------------------------------------------------------------------------------------

/** Reorder a layer by the mean normalised position of its neighbours in the reference layers. */
function sweep(layer, neighbours, position, inReference) {
  const keyed = layer.map((u, i) => {
    const refs = [...neighbours.get(u)].filter(inReference).map((v) => position.get(v));
    const own = (i + 0.5) / layer.length;
    return { u, key: [refs.length ? refs.reduce((a, b) => a + b, 0) / refs.length : own, ...nameKey(u)] };
  });
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  const ordered = keyed.map((k) => k.u);
  ordered.forEach((u, i) => position.set(u, (i + 0.5) / ordered.length));
  return ordered;
}

function orderLayers(layers, neighbours) {
  const position = new Map();
  const layerIndex = new Map();
  layers.forEach((layer, l) => {
    layer.sort((a, b) => compareKeys(nameKey(a), nameKey(b)));
    layer.forEach((u, i) => { position.set(u, (i + 0.5) / layer.length); layerIndex.set(u, l); });
  });
  const forward = () => { for (let l = 1; l < layers.length; l++) layers[l] = sweep(layers[l], neighbours, position, (v) => layerIndex.get(v) < l); };
  const backward = () => { for (let l = layers.length - 2; l >= 0; l--) layers[l] = sweep(layers[l], neighbours, position, (v) => layerIndex.get(v) > l); };
  forward(); backward(); forward();
  return layers;
}

// ---- spacing --------------------------------------------------------------------------------------

/** Centres for items stacked in this order, each as near its wanted centre as the spacing
 * allows (least squares: isotonic regression by pool-adjacent-violators). Items that want
 * nothing follow their predecessor; with no wishes at all the stack is centred on 0. */
export function spread(items, gap) {
  if (!items.length) return [];
  const offsets = [0];
  for (let i = 1; i < items.length; i++) offsets.push(offsets[i - 1] + items[i - 1].h / 2 + gap + items[i].h / 2);
  const known = items.map((it, i) => (it.want === null || it.want === undefined ? null : it.want - offsets[i]));
  if (known.every((t) => t === null)) {
    const total = offsets[offsets.length - 1];
    return offsets.map((o) => o - total / 2);
  }
  // Fill the gaps: an item without a wish stays next to the one before it (or after it, at the start).
  const targets = [...known];
  const firstKnown = targets.findIndex((t) => t !== null);
  for (let i = 0; i < targets.length; i++) {
    if (targets[i] === null) targets[i] = i < firstKnown ? targets[firstKnown] : targets[i - 1];
  }
  const blocks = []; // {value, weight, count}
  for (const t of targets) {
    blocks.push({ value: t, weight: 1, count: 1 });
    while (blocks.length > 1 && blocks[blocks.length - 2].value > blocks[blocks.length - 1].value) {
      const b = blocks.pop();
      const a = blocks.pop();
      const weight = a.weight + b.weight;
      blocks.push({ value: (a.value * a.weight + b.value * b.weight) / weight, weight, count: a.count + b.count });
    }
  }
  const z = blocks.flatMap((b) => Array(b.count).fill(b.value));
  return z.map((v, i) => v + offsets[i]);
}

/** Split a layer (in order) into sub-columns no taller than maxHeight. */
function wrap(units, maxHeight) {
  const columns = [[]];
  let height = 0;
  for (const u of units) {
    const extra = (columns[columns.length - 1].length ? GAP.row : 0) + u.h;
    if (columns[columns.length - 1].length && height + extra > maxHeight) {
      columns.push([]);
      height = 0;
    }
    height += columns[columns.length - 1].length ? GAP.row + u.h : u.h;
    columns[columns.length - 1].push(u);
  }
  return columns;
}

const stackHeight = (units) => units.reduce((sum, u) => sum + u.h, 0) + GAP.row * Math.max(0, units.length - 1);

function gapBefore(layer) {
  const kind = layer[0]?.members[0].kind;
  if (kind === 'queue') return GAP.toLabelled;
  if (kind === 'exchange') return GAP.toExchange;
  return GAP.toConsumers;
}

/** Sub-columns per layer that let the whole graph be drawn largest in a canvas of this aspect:
 * every layer taller than a common limit wraps; limits tried are each layer's height split in k. */
export function chooseWrap(layers, aspect) {
  const heights = layers.map(stackHeight);
  const tallestUnit = Math.max(...layers.flat().map((u) => u.h));
  const limits = new Set([Math.max(...heights)]);
  heights.forEach((h) => { for (let k = 2; k <= 8; k++) limits.add(Math.max(tallestUnit, h / k)); });
  let best = null;
  for (const limit of [...limits].sort((a, b) => b - a)) {
    const wrapped = layers.map((layer) => wrap(layer, limit));
    const width = wrapped.reduce((sum, cols, l) => {
      const colW = Math.max(...layers[l].map((u) => u.w));
      return sum + cols.length * colW + (cols.length - 1) * GAP.sub + (l ? gapBefore(layers[l]) : 0);
    }, 0);
    const height = Math.max(...wrapped.flat().map(stackHeight));
    const extra = wrapped.reduce((sum, cols) => sum + cols.length - 1, 0);
    const scale = Math.min(aspect / width, 1 / height) * WRAP_PENALTY ** extra;
    if (!best || scale > best.scale + 1e-12) best = { scale, wrapped, width, height };
  }
  return best;
}

// ---- the layout -------------------------------------------------------------------------------------

/**
 * Positions for a whole graph.
 * nodes: [{id, kind: exchange|queue|consumer|worker, w, above, below, name, parent?, builtin?, isDefault?}]
 *   (above/below: extent over and under the node's position, labels included)
 * edges: [{source, target, kind}]
 * groups: {connectionId: {name}} for the consumers' parents
 * aspect: width / height of the canvas the graph will be fitted into
 * Returns Map id -> {x, y} for every node given.
 */
export function layoutGraph(nodes, edges, { groups = {}, aspect = 16 / 9 } = {}) {
  if (!nodes.length) return new Map();
  const { units, unitOf } = buildUnits(nodes, groups);
  const exchangeIds = nodes.filter((n) => n.kind === 'exchange').map((n) => n.id);
  const depth = exchangeDepths(exchangeIds, edges);
  const maxDepth = Math.max(0, ...depth.values());
  const byLayer = new Map();
  for (const u of units) {
    const l = layerOf(u, depth, maxDepth);
    if (!byLayer.has(l)) byLayer.set(l, []);
    byLayer.get(l).push(u);
  }
  const layers = [...byLayer.keys()].sort((a, b) => a - b).map((l) => byLayer.get(l));
  const neighbours = new Map(units.map((u) => [u, new Set()]));
  for (const e of edges) {
    const a = unitOf.get(e.source);
    const b = unitOf.get(e.target);
    if (a && b && a !== b) { neighbours.get(a).add(b); neighbours.get(b).add(a); }
  }
  orderLayers(layers, neighbours);
  const { wrapped, height } = chooseWrap(layers, aspect);

  const centre = new Map(); // unit -> y of its centre
  const order = layers.map((_, l) => l).sort((a, b) => stackHeight(layers[b]) - stackHeight(layers[a]) || a - b);
  for (const l of order) {
    const columns = wrapped[l];
    if (columns.length > 1) {
      for (const col of columns) {
        let y = -height / 2;
        for (const u of col) { centre.set(u, y + u.h / 2); y += u.h + GAP.row; }
      }
      continue;
    }
    const wants = layers[l].map((u) => {
      const ys = [...neighbours.get(u)].filter((v) => centre.has(v)).map((v) => centre.get(v));
      return { h: u.h, want: ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : null };
    });
    spread(wants, GAP.row).forEach((y, i) => centre.set(layers[l][i], y));
  }

  const positions = new Map();
  let left = 0;
  layers.forEach((layer, l) => {
    if (l) left += gapBefore(layer);
    const colW = Math.max(...layer.map((u) => u.w));
    wrapped[l].forEach((col, c) => {
      const x = left + c * (colW + GAP.sub) + colW / 2;
      for (const u of col) placeUnit(u, x, centre.get(u), positions);
    });
    left += wrapped[l].length * colW + (wrapped[l].length - 1) * GAP.sub;
  });
  return positions;
}

function placeUnit(unit, x, y, positions) {
  if (unit.kind !== 'group') {
    const [n] = unit.members;
    // The unit's centre is the middle of its extent; the node's position is where its shape is.
    positions.set(n.id, { x, y: y - (n.above + n.below) / 2 + n.above });
    return;
  }
  const { pad, label } = SIZE.connection;
  let top = y - unit.h / 2 + label + pad;
  for (const m of unit.members) {
    positions.set(m.id, { x, y: top + m.above });
    top += m.above + m.below + GAP.member;
  }
}

// ---- one new node ---------------------------------------------------------------------------------

/** The centre nearest `want` where an item of height h fits between the taken intervals
 * ([top, bottom] pairs) with `gap` to spare on each side. */
export function findSlot(want, h, taken, gap = GAP.row) {
  const clear = (y) => taken.every(([top, bottom]) => y + h / 2 + gap <= top || y - h / 2 - gap >= bottom);
  const candidates = [want];
  for (const [top, bottom] of taken) candidates.push(top - gap - h / 2, bottom + gap + h / 2);
  let best = null;
  for (const y of candidates) {
    if (clear(y) && (best === null || Math.abs(y - want) < Math.abs(best - want))) best = y;
  }
  return best ?? want; // unreachable: below the lowest interval is always clear
}
