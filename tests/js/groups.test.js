import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupFolder, foldedEdgeId } from '../../static/js/groups.js';

const G = 'group:queue:svc-1.';
const queue = (name, ready, group = G) => ({
  id: `queue:${name}`, kind: 'queue', name, messages_ready: ready, messages_unacknowledged: 0,
  ...(group ? { group, group_name: 'svc-1.' } : {}),
});
const exchange = { id: 'exchange:orders', kind: 'exchange', name: 'orders' };
const binding = (name) => ({ id: `b:${name}`, kind: 'binding', source: 'exchange:orders', target: `queue:${name}` });
const snapshot = {
  nodes: [exchange, queue('svc-1.a', 2), queue('svc-1.b', 3), queue('svc-1.c', null), queue('alone', 7, null)],
  edges: [binding('svc-1.a'), binding('svc-1.b'), binding('svc-1.c'), binding('alone')],
};
const empty = () => ({ add: { nodes: [], edges: [] }, remove: { nodes: [], edges: [] }, change: { nodes: [], edges: [] } });
const ids = (list) => list.map((x) => x.id).sort();

test('a collapsed group is one node with its count and total depth, its bindings one edge', () => {
  const folder = new GroupFolder();
  const drawn = folder.snapshot(snapshot);
  assert.deepEqual(ids(drawn.nodes), ['exchange:orders', G, 'queue:alone'].sort());
  const group = drawn.nodes.find((n) => n.id === G);
  assert.equal(group.count, 3);
  assert.equal(group.messages_ready, 5, 'the known depths add up');
  assert.equal(group.unknown_depths, 1, 'and the unknown one is said, not counted as 0');
  const folded = drawn.edges.find((e) => e.id === foldedEdgeId('binding', 'exchange:orders', G));
  assert.equal(folded.folded, 3);
  assert.deepEqual(ids(drawn.edges).filter((id) => id.startsWith('b:')), ['b:alone']);
});

test('a member\'s depth change is one change of its group\'s totals', () => {
  const folder = new GroupFolder();
  folder.snapshot(snapshot);
  const patch = { ...empty(), change: { nodes: [{ id: 'queue:svc-1.a', messages_ready: 12 }], edges: [] } };
  const drawn = folder.patch(patch);
  assert.deepEqual(drawn.change.nodes.map((n) => [n.id, n.messages_ready]), [[G, 15]]);
  assert.deepEqual(drawn.add.nodes, []);
  const plain = folder.patch({ ...empty(), change: { nodes: [{ id: 'queue:alone', messages_ready: 1 }], edges: [] } });
  assert.deepEqual(plain.change.nodes, [{ id: 'queue:alone', messages_ready: 1 }]);
});

test('members added and removed change the count and the folded edge; the last one removes the group', () => {
  const folder = new GroupFolder();
  folder.snapshot(snapshot);
  let drawn = folder.patch({ ...empty(), add: { nodes: [queue('svc-1.d', 1)], edges: [binding('svc-1.d')] } });
  assert.equal(drawn.change.nodes[0].count, 4);
  assert.deepEqual(drawn.change.edges, [{ id: foldedEdgeId('binding', 'exchange:orders', G), folded: 4 }]);
  assert.deepEqual(drawn.add.nodes, []);
  const names = ['svc-1.a', 'svc-1.b', 'svc-1.c', 'svc-1.d'];
  drawn = folder.patch({ ...empty(), remove: { nodes: names.map((n) => `queue:${n}`), edges: names.map((n) => `b:${n}`) } });
  assert.deepEqual(drawn.remove.nodes, [G]);
  assert.deepEqual(drawn.remove.edges, [foldedEdgeId('binding', 'exchange:orders', G)]);
});

test('expanding draws the members and their own edges; collapsing folds them again', () => {
  const folder = new GroupFolder();
  folder.snapshot(snapshot);
  const open = folder.expand(G);
  assert.deepEqual(open.remove.nodes, [G]);
  assert.deepEqual(ids(open.add.nodes), ['queue:svc-1.a', 'queue:svc-1.b', 'queue:svc-1.c']);
  assert.deepEqual(ids(open.add.edges), ['b:svc-1.a', 'b:svc-1.b', 'b:svc-1.c']);
  assert.equal(folder.expand(G), null, 'already open');
  const depth = folder.patch({ ...empty(), change: { nodes: [{ id: 'queue:svc-1.b', messages_ready: 9 }], edges: [] } });
  assert.deepEqual(depth.change.nodes, [{ id: 'queue:svc-1.b', messages_ready: 9 }], 'an open group\'s members change as themselves');
  const shut = folder.collapse(G);
  assert.deepEqual(shut.add.nodes.map((n) => [n.id, n.messages_ready]), [[G, 11]]);
  assert.deepEqual([...shut.remove.nodes].sort(), ['queue:svc-1.a', 'queue:svc-1.b', 'queue:svc-1.c']);
});

test('an open group stays open across snapshots; search finds members of folded groups only', () => {
  const folder = new GroupFolder();
  folder.snapshot(snapshot);
  assert.deepEqual(folder.foldedMatching('svc-1.b'), ['queue:svc-1.b']);
  folder.expand(G);
  assert.deepEqual(folder.foldedMatching('svc-1.b'), [], 'drawn members are found on the graph itself');
  const drawn = folder.snapshot(snapshot);
  assert.ok(drawn.nodes.some((n) => n.id === 'queue:svc-1.b'));
  assert.ok(!drawn.nodes.some((n) => n.id === G));
});

test('groups forming on a patch ask for the graph to be drawn again; without groups patches pass through', () => {
  const folder = new GroupFolder();
  const plain = { nodes: snapshot.nodes.map((n) => Object.fromEntries(Object.entries(n).filter(([k]) => !k.startsWith('group')))), edges: snapshot.edges };
  folder.snapshot(plain);
  const passing = { ...empty(), change: { nodes: [{ id: 'queue:alone', messages_ready: 3 }], edges: [] } };
  assert.equal(folder.patch(passing), passing);
  const forming = folder.patch({ ...empty(), change: { nodes: [{ id: 'queue:svc-1.a', group: G, group_name: 'svc-1.' }], edges: [] } });
  assert.deepEqual(forming, { rebuild: true });
  assert.equal(folder.drawn().nodes.find((n) => n.id === G).count, 1);
});

test('a consumer of a grouped queue folds into the group and is counted there', () => {
  const folder = new GroupFolder();
  const consumer = { id: 'consumer:x', kind: 'consumer', name: 'x', queue: 'svc-1.a', group: G, group_name: 'svc-1.', parent: 'conn' };
  const consumes = { id: 'c:x', kind: 'consumes', source: 'queue:svc-1.a', target: 'consumer:x' };
  const drawn = folder.snapshot({ nodes: [...snapshot.nodes, consumer], edges: [...snapshot.edges, consumes] });
  assert.ok(!drawn.nodes.some((n) => n.id === 'consumer:x'));
  assert.ok(!drawn.edges.some((e) => e.source === G && e.kind === 'consumes'), 'an edge inside a folded group is not drawn');
  assert.equal(drawn.nodes.find((n) => n.id === G).consumers, 1);
});
