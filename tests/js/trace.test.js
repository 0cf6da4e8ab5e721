import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { useVocabulary } from '../../static/js/vocabulary.js';
import * as trace from '../../static/js/trace-logic.js';

// The server's own vocabulary (visualiser/contract/vocabulary.py), as the page receives it.
const python = new URL('../../.venv/bin/python', import.meta.url).pathname;
const words = JSON.parse(execFileSync(python, ['-c', 'import json; from visualiser.contract.vocabulary import vocabulary; print(json.dumps(vocabulary()))'],
  { cwd: new URL('../..', import.meta.url).pathname }));
useVocabulary(words);

const row = (id, extra = {}) => ({ id, exchange: 'orders', routing_key: 'k', published: true, ...extra });

test('the message list keeps the newest rows, updates a row in place, and says what changed', () => {
  const list = new trace.MessageList(3);
  assert.deepEqual(list.upsert([row(1), row(2)]), { added: [1, 2], changed: [], removed: [] });
  assert.deepEqual(list.upsert([row(2, { verdict: 'agreed' }), row(3), row(4)]), { added: [3, 4], changed: [2], removed: [1] });
  assert.equal(list.get(2).verdict, 'agreed');
  assert.deepEqual(list.newestFirst().map((r) => r.id), [4, 3, 2]);
  // A burst larger than the list: only the newest stay, and nothing that was dropped is reported as added.
  const burst = Array.from({ length: 50 }, (_, i) => row(100 + i));
  const change = list.upsert(burst);
  assert.deepEqual(list.newestFirst().map((r) => r.id), [149, 148, 147]);
  assert.deepEqual(change.added, [147, 148, 149]);
  assert.deepEqual(change.removed.sort((a, b) => a - b).slice(0, 3), [2, 3, 4]);
  assert.equal(list.size, 3);
  // Rows without an id (a malformed frame) are ignored.
  assert.deepEqual(list.upsert([null, { exchange: 'x' }]), { added: [], changed: [], removed: [] });
});

test('the list stays bounded at the default size whatever arrives', () => {
  const list = new trace.MessageList();
  for (let frame = 0; frame < 100; frame++) list.upsert(Array.from({ length: 20 }, (_, i) => row(frame * 20 + i)));
  assert.equal(list.size, trace.MAX_ROWS);
  assert.equal(list.newestFirst()[0].id, 1999);
});

test('at high rates a bounded number of sampled messages get markers, spread over the frame', () => {
  const budget = new trace.MarkerBudget({ maxAlive: 10, perLane: 4 });
  const samples = Array.from({ length: 12 }, (_, i) => ({ id: i, kind: 'publish', path: ['exchange:orders'] }));
  const first = budget.admit(samples, { now: 100, alive: 0, interval: 0.25 });
  assert.equal(first.length, 4); // one exchange: at most 4 a second start from it
  const delays = first.map((p) => p.delay);
  assert.deepEqual(delays, [...delays].sort((a, b) => a - b));
  assert.ok(delays.every((d) => d >= 0 && d < 0.25));
  assert.ok(new Set(delays).size === delays.length);
  // The same exchange in the same second: no more; a second later, four more.
  assert.equal(budget.admit(samples, { now: 100.25, alive: 4, interval: 0.25 }).length, 0);
  assert.equal(budget.admit(samples, { now: 101.5, alive: 4, interval: 0.25 }).length, 4);
  // Other exchanges and queues have lanes of their own, all under the cap of live markers.
  const spread = Array.from({ length: 12 }, (_, i) => ({ id: i, kind: i % 2 ? 'deliver' : 'publish', path: [`queue:q${i}`] }));
  assert.equal(budget.admit(spread, { now: 103, alive: 7, interval: 0.25 }).length, 3);
  assert.equal(budget.admit(spread, { now: 104, alive: 10, interval: 0.25 }).length, 0);
  // Samples without a path draw nothing.
  assert.equal(budget.admit([{ id: 1, kind: 'publish', path: [] }, { id: 2 }], { now: 200, alive: 0 }).length, 0);
});

test('a message\'s hops follow its path: fanout splits, exchange-to-exchange continues, unexplained goes direct', () => {
  const edges = {
    'b:orders-audit': { source: 'exchange:orders', target: 'exchange:audit' },
    'b:audit-log': { source: 'exchange:audit', target: 'queue:audit.log' },
    'b:orders-created': { source: 'exchange:orders', target: 'queue:orders.created' },
  };
  const ends = (id) => edges[id] ?? null;
  const path = ['exchange:orders', 'b:orders-audit', 'exchange:audit', 'b:audit-log', 'queue:audit.log', 'b:orders-created',
    'queue:orders.created', 'queue:elsewhere'];
  const plan = trace.planHops(path, ends);
  assert.equal(plan.start, 'exchange:orders');
  assert.deepEqual(plan.hops.map((h) => [h.id, h.kind]), [
    ['b:orders-audit', 'edge'], ['b:orders-created', 'edge'], ['b:audit-log', 'edge'],
    ['direct:exchange:orders\nqueue:elsewhere', 'direct'],
  ]);
  const { hops, span } = trace.scheduleHops(plan.hops, () => 1, 0.5);
  const at = Object.fromEntries(hops.map((h) => [h.id, [h.begin, h.end]]));
  assert.deepEqual(at['b:orders-audit'], [0.5, 1.5]);
  assert.deepEqual(at['b:orders-created'], [0.5, 1.5]); // both leave the exchange together
  assert.deepEqual(at['b:audit-log'], [1.5, 2.5]); // leaves audit when the message arrives there
  assert.equal(span, 2.5);
  // A delivery: queue → consumer.
  const delivery = trace.planHops(['queue:q', 'consumes:c', 'consumer:c'], (id) => (id === 'consumes:c' ? { source: 'queue:q', target: 'consumer:c' } : null));
  assert.deepEqual(delivery.hops.map((h) => [h.from, h.to]), [['queue:q', 'consumer:c']]);
  assert.deepEqual(trace.planHops([], ends), { start: null, hops: [] });
});

test('edge badges carry the exact total, and a rate averaged over seconds only when too fast to follow', () => {
  const tally = new trace.EdgeTally(5);
  for (let i = 0; i < 40; i++) tally.add({ fast: { count: 10, rate: 40 }, slow: { count: i % 4 === 0 ? 1 : 0, rate: 4 } }, 100 + i * 0.25);
  assert.equal(tally.total('fast'), 400);
  assert.equal(tally.total('slow'), 10);
  const badges = Object.fromEntries(tally.badges(110));
  assert.equal(badges.fast, '400 · 40/s');
  assert.equal(badges.slow, '10'); // one a second: a marker for each can be followed
  assert.equal(trace.badgeText(12480, null), '12.5k');
  assert.equal(trace.badgeText(123456, 2.25), '123k · 2.3/s');
  tally.clear();
  assert.deepEqual(tally.badges(111), []);
});

test('badges along edges that fan out from one node do not cover one another', () => {
  const items = Array.from({ length: 6 }, (_, i) => ({ id: `e${i}`, a: { x: 0, y: 100 }, b: { x: 300, y: 40 + i * 24 }, w: 60, h: 16 }));
  const spots = trace.placeBadges(items);
  const boxes = items.map((item) => { const p = spots.get(item.id); return { x1: p.x - 30, y1: p.y - 8, x2: p.x + 30, y2: p.y + 8 }; });
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      assert.ok(!(a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2), `badges ${i} and ${j} overlap`);
    }
  }
});

test('a badge never covers a node: it moves along its edge, and is left out when no spot is free', () => {
  // Two nodes drawn at x 0..40 and 260..300 (y 80..120); an edge between them, one alongside, one short.
  const nodes = new trace.BoxGrid([{ x1: 0, y1: 80, x2: 40, y2: 120 }, { x1: 260, y1: 80, x2: 300, y2: 120 }, { x1: 120, y1: 90, x2: 180, y2: 110 }], 50);
  const blocked = (box) => nodes.covers(box);
  const items = [
    { id: 'long', a: { x: 40, y: 100 }, b: { x: 260, y: 100 }, w: 50, h: 16 }, // its middle is taken by a node
    { id: 'short', a: { x: 40, y: 100 }, b: { x: 60, y: 100 }, w: 50, h: 16 }, // too short to hold a badge clear of its ends
  ];
  const spots = trace.placeBadges(items, { blocked });
  const p = spots.get('long');
  assert.ok(p, 'the long edge keeps its badge');
  const box = { x1: p.x - 27, y1: p.y - 9, x2: p.x + 27, y2: p.y + 9 };
  assert.ok(!nodes.covers(box), `the badge at ${p.x} covers a node`);
  assert.ok(p.x > 40 && p.x < 260 && p.y === 100, 'on its edge');
  assert.equal(spots.has('short'), false);
  // With nothing in the way, the badge takes the edge's middle.
  assert.deepEqual(trace.placeBadges([items[0]]).get('long'), { x: 150, y: 100 });
  // The grid answers like a plain scan, across cell borders.
  const boxes = Array.from({ length: 40 }, (_, i) => ({ x1: (i * 37) % 400, y1: (i * 53) % 300, x2: ((i * 37) % 400) + 30, y2: ((i * 53) % 300) + 12 }));
  const grid = new trace.BoxGrid(boxes, 64);
  for (let x = -20; x < 420; x += 17) {
    for (let y = -20; y < 320; y += 13) {
      const probe = { x1: x, y1: y, x2: x + 25, y2: y + 9 };
      assert.equal(grid.covers(probe), boxes.some((b) => trace.overlaps(probe, b)), JSON.stringify(probe));
    }
  }
});

test('publishers: tallied by connection, user and exchange; labelled by user and address', () => {
  const tally = new trace.PublisherTally();
  const p = { connection: '10.0.0.7:51234 -> 10.0.0.2:5672', user: 'shop', exchange: 'exchange:orders', node: null, label: '10.0.0.7:51234 -> 10.0.0.2:5672' };
  tally.add([{ ...p, count: 3, unroutable: 1 }, { ...p, user: 'other', count: 9, unroutable: 0 }]);
  tally.add([{ ...p, count: 2, unroutable: 0 }]);
  const rows = tally.byExchange().get('exchange:orders');
  assert.deepEqual(rows.map((r) => [r.user, r.count, r.unroutable]), [['other', 9, 0], ['shop', 5, 1]]);
  assert.equal(trace.publisherLabel(rows[1]), 'shop @ 10.0.0.7:51234');
  assert.equal(trace.publisherLabel({ node: 'connection:x', label: 'order-service', user: 'u' }), 'order-service');
  assert.equal(trace.publisherLabel({ connection: null, user: null }), 'unknown connection');
  assert.equal(tally.find(p.connection, 'shop', 'exchange:orders').count, 5);
});

test('the Trace tab\'s words: headline, figures, state, time left, filter, cluster', () => {
  const counts = { traced: 30000, publishes: 12480, deliveries: 17000, agreed: 12478, disagreed: 1, pending: 1, unchecked: 0,
    unchecked_reasons: { sampled: 40 }, unroutable: 2, dropped: 7, dropped_exact: false, malformed: 1, malformed_reasons: { 'no exchange_name header': 1 },
    filtered: 0, non_utf8: 0, unknown_exchange: 0 };
  assert.equal(trace.headline(counts), '12,480 traced publishes, 1 disagreement');
  assert.equal(trace.headline({ publishes: 1, disagreed: 0 }), '1 traced publish, 0 disagreements');
  assert.equal(trace.sideFigures(counts), `17,000 deliveries · at least 7 dropped · 40 sampled away · 2 unroutable · 1 ${words.trace_counts.pending}`);
  const rows = trace.countRows(counts);
  assert.ok(rows.some((r) => r.label === words.trace_counts.dropped && r.value === 'at least 7'));
  assert.ok(rows.some((r) => r.label === `not compared: ${words.trace_unchecked_reasons.sampled}` && r.value === '40'));
  assert.ok(rows.some((r) => r.key === 'malformed:no exchange_name header'));
  assert.deepEqual(trace.traceState('on'), words.trace_states.on);
  assert.equal(trace.traceVerdict(null), null);
  assert.deepEqual(trace.rowVerdict({ published: false, verdict: null }), { label: 'publish not seen', tone: 'idle' });
  assert.deepEqual(trace.rowVerdict({ published: true, verdict: 'disagreed' }), words.trace_verdicts.disagreed);
  assert.equal(trace.timeLeft(1000 + 572, 1000), 'stops by itself in 9 min 32 s');
  assert.equal(trace.timeLeft(900, 1000), 'its time is up: stopping');
  assert.equal(trace.timeLeft(null, 1000), '');
  assert.deepEqual(trace.filterParts({ exchange: null, queue: null }), [{ text: 'every publish and every delivery of the vhost' }]);
  assert.deepEqual(trace.filterParts({ exchange: '', queue: 'q' }).map((p) => p.name ?? p.text),
    ['publishes to exchange ', '', ' and ', 'deliveries from queue ', 'q']);
  assert.deepEqual(trace.clusterLines({ untraced_nodes: ['rabbit@b'], note: 'on for rabbit@a only' }),
    [{ tone: 'warn', text: 'Not traced: rabbit@b.' }, { tone: 'warn', text: 'on for rabbit@a only' }]);
  assert.deepEqual(trace.clusterLines({ untraced_nodes: [], note: 'one node' }), [{ tone: 'muted', text: 'one node' }]);
  assert.deepEqual(trace.clusterLines(null), []);
  assert.equal(trace.clientAddress('a:1 -> b:2'), 'a:1');
  assert.equal(trace.clientAddress('named'), 'named');
});
