import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ANIMATE_UP_TO, MARKERS_PER_EDGE, animated, due, edgeFlow, pointAlong, travelTime } from '../../static/js/flow.js';

const queue = (publish, deliver) => ({ kind: 'queue', rates: { publish, deliver_get: deliver } });
const exchange = (out) => ({ kind: 'exchange', rates: { publish_out: out } });
const binding = { kind: 'binding', destination_type: 'queue' };

test('a queue fed by one binding: the edge carries what is published to the queue', () => {
  assert.equal(edgeFlow(binding, exchange(50), queue(12, 0), [exchange(50)]), 12);
});

test('a queue fed by several exchanges: shared by what each routes out', () => {
  const a = exchange(30);
  const b = exchange(10);
  assert.equal(edgeFlow(binding, a, queue(8, 0), [a, b]), 6);
  assert.equal(edgeFlow(binding, b, queue(8, 0), [a, b]), 2);
  assert.equal(edgeFlow(binding, { kind: 'exchange' }, queue(8, 0), [{ kind: 'exchange' }, b]), 4, 'unknown weights: an even share');
});

test('consumers share what the queue delivers; without figures, nothing is made up', () => {
  assert.equal(edgeFlow({ kind: 'consumes' }, queue(0, 9), { kind: 'consumer' }, 3), 3);
  assert.equal(edgeFlow({ kind: 'consumes' }, { kind: 'queue', rates: {} }, { kind: 'worker' }, 1), null);
  assert.equal(edgeFlow(binding, exchange(1), { kind: 'queue' }, []), null);
  assert.equal(edgeFlow({ kind: 'dead-letter' }, queue(1, 1), exchange(1), null), null);
});

test('markers: one per message at low rates, capped at busy ones, fractions carried over', () => {
  let carry = 0;
  let started = 0;
  for (let i = 0; i < 100; i++) { const next = due(carry, 2, 0.05); carry = next.carry; started += next.count; }
  assert.equal(started + Math.round(carry), 10, 'two a second for five seconds');
  assert.equal(due(0, 1000, 1).count, MARKERS_PER_EDGE);
  assert.ok(animated(0.2) && animated(ANIMATE_UP_TO) && !animated(ANIMATE_UP_TO + 1) && !animated(0) && !animated(null));
});

test('markers travel along the edge at a speed the eye can follow', () => {
  assert.deepEqual(pointAlong({ x: 0, y: 0 }, { x: 100, y: 50 }, 0.5), { x: 50, y: 25 });
  assert.deepEqual(pointAlong({ x: 0, y: 0 }, { x: 100, y: 50 }, 2), { x: 100, y: 50 });
  assert.ok(travelTime(10) >= 0.5 && travelTime(10000) <= 3 && travelTime(100) <= travelTime(600));
});
