import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GAP, exchangeDepths, findSlot, layoutGraph, spread } from '../../static/js/layout.js';

const box = (id, kind, extra = {}) => ({ id, kind, name: id, w: kind === 'exchange' ? 120 : kind === 'queue' ? 250 : 170, above: 20, below: 20, ...extra });

/** A broker like the demo: exchanges fanning out to queues, each consumed by an app's connection. */
function broker({ exchanges = 4, queues = 24, perConnection = 2 } = {}) {
  const nodes = [];
  const edges = [];
  const groups = {};
  for (let x = 0; x < exchanges; x++) nodes.push(box(`exchange:x${x}`, 'exchange'));
  for (let q = 0; q < queues; q++) {
    nodes.push(box(`queue:q${q}`, 'queue'));
    edges.push({ source: `exchange:x${q % exchanges}`, target: `queue:q${q}`, kind: 'binding' });
    const parent = `connection:c${Math.floor(q / perConnection)}`;
    groups[parent] = { name: parent };
    nodes.push(box(`consumer:k${q}`, 'consumer', { parent, above: 12, below: 12 }));
    edges.push({ source: `queue:q${q}`, target: `consumer:k${q}`, kind: 'consumes' });
  }
  return { nodes, edges, groups };
}

function extents(nodes, positions) {
  return nodes.map((n) => {
    const p = positions.get(n.id);
    return { id: n.id, kind: n.kind, x1: p.x - n.w / 2, x2: p.x + n.w / 2, y1: p.y - n.above, y2: p.y + n.below };
  });
}

test('spread keeps each item where it wants to be when there is room', () => {
  const ys = spread([{ h: 20, want: 0 }, { h: 20, want: 100 }, { h: 20, want: 300 }], 10);
  assert.deepEqual(ys, [0, 100, 300]);
});

test('spread keeps the order and the spacing, and splits a conflict evenly', () => {
  const ys = spread([{ h: 20, want: 50 }, { h: 20, want: 50 }], 10);
  assert.equal(ys[1] - ys[0], 30);
  assert.equal((ys[0] + ys[1]) / 2, 50, 'least squares: both move by the same amount');
});

test('spread stacks items without wishes after their neighbour, and centres a stack with none', () => {
  const ys = spread([{ h: 20, want: 0 }, { h: 20, want: null }], 10);
  assert.deepEqual(ys, [0, 30]);
  const centred = spread([{ h: 20, want: null }, { h: 20, want: null }, { h: 20, want: null }], 10);
  assert.deepEqual(centred, [-30, 0, 30]);
});

test('findSlot returns the wanted spot when free, else the nearest free one', () => {
  assert.equal(findSlot(0, 20, [[100, 140]], 10), 0);
  const y = findSlot(120, 20, [[100, 140]], 10);
  assert.ok(y + 10 + 10 <= 100 || y - 10 - 10 >= 140, `slot ${y} overlaps the taken interval`);
  assert.equal(Math.abs(y - 120), 40, 'the nearest side');
});

test('exchange depth follows exchange-to-exchange bindings, and a cycle does not hang', () => {
  const depths = exchangeDepths(['a', 'b', 'c'], [
    { source: 'a', target: 'b', kind: 'binding' }, { source: 'b', target: 'c', kind: 'alternate' }, { source: 'c', target: 'a', kind: 'binding' },
  ]);
  assert.equal(depths.size, 3);
  for (const d of depths.values()) assert.ok(d >= 0 && d <= 6);
  const chain = exchangeDepths(['a', 'b', 'c'], [{ source: 'a', target: 'b', kind: 'binding' }, { source: 'b', target: 'c', kind: 'binding' }]);
  assert.deepEqual([chain.get('a'), chain.get('b'), chain.get('c')], [0, 1, 2]);
});

test('layers run left to right: exchanges, then queues, then what consumes them', () => {
  const { nodes, edges, groups } = broker({ queues: 6 });
  const positions = layoutGraph(nodes, edges, { groups, aspect: 16 / 9 });
  const rightmost = (kind) => Math.max(...nodes.filter((n) => n.kind === kind).map((n) => positions.get(n.id).x));
  const leftmost = (kind) => Math.min(...nodes.filter((n) => n.kind === kind).map((n) => positions.get(n.id).x));
  assert.ok(rightmost('exchange') < leftmost('queue'));
  assert.ok(rightmost('queue') < leftmost('consumer'));
});

test('no two nodes overlap, and a connection keeps its consumers together', () => {
  const { nodes, edges, groups } = broker({ queues: 30, perConnection: 3 });
  const positions = layoutGraph(nodes, edges, { groups, aspect: 16 / 9 });
  const boxes = extents(nodes, positions);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i];
      const b = boxes[j];
      const overlap = a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
      assert.ok(!overlap, `${a.id} overlaps ${b.id}`);
    }
  }
  for (const parent of Object.keys(groups)) {
    const members = nodes.filter((n) => n.parent === parent).map((n) => positions.get(n.id));
    assert.equal(new Set(members.map((p) => p.x)).size, 1, `${parent}: one column`);
    const ys = members.map((p) => p.y).sort((a, b) => a - b);
    for (let i = 1; i < ys.length; i++) assert.ok(ys[i] - ys[i - 1] <= 24 + GAP.member + 1, `${parent}: consumers adjacent`);
  }
});

test('a consumer sits level with its queue when there is room', () => {
  const { nodes, edges, groups } = broker({ queues: 8, perConnection: 1 });
  const positions = layoutGraph(nodes, edges, { groups, aspect: 16 / 9 });
  for (let q = 0; q < 8; q++) {
    const dy = Math.abs(positions.get(`queue:q${q}`).y - positions.get(`consumer:k${q}`).y);
    assert.ok(dy < 40, `consumer k${q} is ${dy} away from its queue`);
  }
});

test('a broker with many queues wraps its columns to fill a 16:9 canvas', () => {
  const { nodes, edges, groups } = broker({ exchanges: 6, queues: 60, perConnection: 3 });
  const bbox = (aspect) => {
    const boxes = extents(nodes, layoutGraph(nodes, edges, { groups, aspect }));
    const w = Math.max(...boxes.map((b) => b.x2)) - Math.min(...boxes.map((b) => b.x1));
    const h = Math.max(...boxes.map((b) => b.y2)) - Math.min(...boxes.map((b) => b.y1));
    return { w, h, scale: Math.min(aspect / w, 1 / h) };
  };
  const wide = bbox(16 / 9);
  const tall = bbox(0.3); // a canvas this narrow is best served by single columns
  assert.ok(wide.w / wide.h > 1, `still taller (${wide.w}x${wide.h}) than wide on a 16:9 canvas`);
  assert.ok(tall.h > wide.h * 1.5, 'the wide canvas got wrapped columns');
  const single = Math.min((16 / 9) / tall.w, 1 / tall.h);
  assert.ok(wide.scale > single * 1.3, `wrapping draws the graph larger (${wide.scale} vs ${single})`);
});

test('the layout is the same for the same graph (no randomness)', () => {
  const { nodes, edges, groups } = broker({ queues: 10 });
  const a = layoutGraph(nodes, edges, { groups });
  const b = layoutGraph([...nodes].reverse(), [...edges].reverse(), { groups });
  for (const n of nodes) assert.deepEqual(a.get(n.id), b.get(n.id), n.id);
});
