import assert from 'node:assert/strict';
import { test } from 'node:test';
import { niceScale, stepLine, timeSpan, timeTicks } from '../../static/js/chart.js';

test('the message axis runs from 0 to a round number at or above the highest point', () => {
  assert.deepEqual(niceScale(7), { max: 8, step: 2, ticks: [0, 2, 4, 6, 8] });
  assert.deepEqual(niceScale(0), { max: 1, step: 1, ticks: [0, 1] });
  assert.deepEqual(niceScale(12345).ticks, [0, 5000, 10000, 15000]);
  for (const max of [1, 3, 9, 10, 99, 101, 999, 1001, 54321]) {
    const scale = niceScale(max);
    assert.ok(scale.max >= max, `${max}: top ${scale.max}`);
    assert.ok(scale.ticks.every((t) => Number.isInteger(t)), `${max}: whole messages`);
    assert.ok(scale.ticks.length >= 2 && scale.ticks.length <= 7, `${max}: ${scale.ticks.length} ticks`);
  }
});

test('the time axis covers the retained window, or at least a minute of a short history', () => {
  assert.deepEqual(timeSpan([[1000, 1, 0], [1900, 2, 0]], 900), { start: 1000, end: 1900 });
  assert.deepEqual(timeSpan([[0, 1, 0], [2000, 2, 0]], 900), { start: 1100, end: 2000 });
  assert.deepEqual(timeSpan([[1990, 1, 0], [2000, 2, 0]], 900), { start: 1940, end: 2000 });
});

test('time ticks fall on round clock steps', () => {
  const { step, ticks } = timeTicks(1100, 2000, 4);
  assert.equal(step, 300);
  assert.deepEqual(ticks, [1200, 1500, 1800]);
  assert.ok(timeTicks(1940, 2000, 4).ticks.every((t) => t % 15 === 0));
});

test('depth holds between polls: a step line', () => {
  const x = (t) => t;
  const y = (v) => -v;
  assert.equal(stepLine([[0, 1], [10, 5]], x, y, 1), '0.0,-1.0 10.0,-1.0 10.0,-5.0');
});
