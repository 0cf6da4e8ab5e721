// A layered, left-to-right layout that stays put: exchanges (by depth of exchange-to-
// exchange bindings), then queues, then consumers grouped by connection. A full layout
// orders each column by the barycentre of its neighbours to keep edges short; after that,
// new nodes are slotted in near their neighbours and nothing that exists moves.

const COLUMN_GAP = 140;
const WIDTH = { exchange: 60, queue: 210, consumer: 170, worker: 190 };
const ROW = { exchange: 92, queue: 60, consumer: 34, worker: 70 };
const GROUP_GAP = 40; // between connections, room for the compound's label

const kindOf = (n) => n.data('kind');

/** Column index per node id (compound connection nodes get none: their children place them). */
export function columns(cy, nodes) {
  const col = new Map();
  const exchanges = nodes.filter((n) => kindOf(n) === 'exchange');
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (n) => {
    const id = n.id();
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0; // a cycle: cut it here
    visiting.add(id);
    let d = 0;
    n.incomers('edge').forEach((e) => {
      const kind = e.data('kind');
      if ((kind === 'binding' || kind === 'alternate') && kindOf(e.source()) === 'exchange' && e.source().id() !== id) {
        d = Math.max(d, depthOf(e.source()) + 1);
      }
    });
    visiting.delete(id);
    depth.set(id, Math.min(d, 6));
    return depth.get(id);
  };
  let maxDepth = 0;
  exchanges.forEach((n) => { const d = depthOf(n); col.set(n.id(), d); maxDepth = Math.max(maxDepth, d); });
  nodes.forEach((n) => {
    const kind = kindOf(n);
    if (kind === 'queue') col.set(n.id(), maxDepth + 1);
    else if (kind === 'consumer') col.set(n.id(), maxDepth + 2);
    else if (kind === 'worker') col.set(n.id(), maxDepth + 3);
  });
  return col;
}

function nameKey(n) {
  const builtin = n.data('builtin') ? 1 : 0;
  const isDefault = n.data('default') ? -1 : 0;
  return [isDefault, builtin, String(n.data('name') ?? '')];
}

function compareKeys(a, b) {
  for (let i = 0; i < a.length; i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return 0;
}

/** Order within a column by the mean height of already-placed neighbours (`rank`: id -> y). */
function barycentreOrder(columnNodes, rank) {
  const keyed = columnNodes.map((n) => {
    const ranks = [];
    n.connectedEdges().forEach((e) => {
      const other = e.source().id() === n.id() ? e.target() : e.source();
      if (rank.has(other.id())) ranks.push(rank.get(other.id()));
    });
    const bary = ranks.length ? ranks.reduce((a, b) => a + b, 0) / ranks.length : Infinity;
    return { n, key: [bary, ...nameKey(n)] };
  });
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  return keyed.map((k) => k.n);
}

/** Group consumers by their connection, connections ordered by their best queue rank. */
function consumerOrder(columnNodes, rank) {
  const queueRank = (n) => {
    let best = Infinity;
    n.incomers('edge').forEach((e) => { if (rank.has(e.source().id())) best = Math.min(best, rank.get(e.source().id())); });
    return best;
  };
  const groups = new Map();
  columnNodes.forEach((n) => {
    const parent = n.data('parent') ?? n.id();
    if (!groups.has(parent)) groups.set(parent, []);
    groups.get(parent).push({ n, r: queueRank(n) });
  });
  const ordered = [...groups.values()].map((members) => {
    members.sort((a, b) => a.r - b.r || String(a.n.data('name')).localeCompare(String(b.n.data('name'))));
    return members;
  });
  ordered.sort((a, b) => a[0].r - b[0].r);
  return ordered;
}

/** Positions for every visible node, from scratch. */
export function layoutAll(cy, nodes) {
  const placeable = nodes.filter((n) => kindOf(n) !== 'connection');
  const col = columns(cy, placeable);
  const maxCol = Math.max(0, ...col.values());
  const rank = new Map();
  const positions = new Map();
  let x = 0;
  for (let c = 0; c <= maxCol; c++) {
    const members = placeable.filter((n) => col.get(n.id()) === c);
    if (!members.length) continue;
    const kind = kindOf(members[0]);
    let groups;
    if (kind === 'consumer') groups = consumerOrder(members, rank).map((g) => g.map((m) => m.n));
    else groups = [c === 0 ? [...members].sort((a, b) => compareKeys(nameKey(a), nameKey(b))) : barycentreOrder(members, rank)];
    const flat = groups.flat();
    // Wrap a very long column into sub-columns so that big brokers stay viewable.
    const perColumn = Math.max(40, Math.ceil(Math.sqrt(flat.length * 4)));
    const width = WIDTH[kind] ?? 160;
    let y = 0;
    let sub = 0;
    let inSub = 0;
    const heights = [];
    groups.forEach((group) => {
      group.forEach((n) => {
        if (inSub >= perColumn) { heights.push(y); sub += 1; inSub = 0; y = 0; }
        positions.set(n.id(), { x: x + sub * (width + 40) + width / 2, y });
        y += ROW[kind] ?? 50;
        inSub += 1;
      });
      if (kind === 'consumer') y += GROUP_GAP;
    });
    heights.push(y);
    // Centre each column vertically around 0.
    const tallest = Math.max(...heights);
    flat.forEach((n) => { const p = positions.get(n.id()); p.y -= tallest / 2; rank.set(n.id(), p.y); });
    x += (sub + 1) * (width + 40) + COLUMN_GAP;
  }
  return positions;
}

/** A free spot for a new node near its neighbours, in its kind's column; nothing else moves. */
export function placeNear(cy, node) {
  const kind = kindOf(node);
  const sameKind = cy.nodes().filter((n) => n !== node && kindOf(n) === kind && n.data('placed'));
  const neighbours = node.neighborhood('node').filter((n) => n.data('placed'));
  let x;
  if (sameKind.length) {
    // The column of the nearest same-kind node to our neighbours, else the first column.
    const xs = sameKind.map((n) => n.position('x'));
    x = neighbours.length ? xs.reduce((best, v) => (Math.abs(v - neighbours[0].position('x')) < Math.abs(best - neighbours[0].position('x')) ? v : best), xs[0]) : Math.min(...xs);
    if (kind === 'queue' || kind === 'consumer' || kind === 'worker') x = Math.min(...xs);
  } else if (neighbours.length) {
    x = neighbours[0].position('x') + (kind === 'exchange' ? -1 : 1) * ((WIDTH[kind] ?? 160) + COLUMN_GAP);
  } else {
    x = 0;
  }
  const want = neighbours.length ? neighbours.map((n) => n.position('y')).reduce((a, b) => a + b, 0) / neighbours.length : 0;
  const row = ROW[kind] ?? 50;
  const taken = sameKind.filter((n) => Math.abs(n.position('x') - x) < 5).map((n) => n.position('y'));
  const free = (y) => taken.every((t) => Math.abs(t - y) >= row * 0.95);
  for (let step = 0; step < 10000; step++) {
    const offset = Math.ceil(step / 2) * (row / 2) * (step % 2 ? 1 : -1);
    if (free(want + offset)) return { x, y: want + offset };
  }
  return { x, y: Math.max(0, ...taken) + row };
}
