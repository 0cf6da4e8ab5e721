import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoxIndex, LabelPlanner, edgeLabelBox, intersects } from '../../static/js/placement.js';

const box = (x1, y1, x2, y2) => ({ x1, y1, x2, y2 });

test('the index finds what a box touches, and forgets what is deleted', () => {
  const index = new BoxIndex(50);
  index.set('a', box(0, 0, 10, 10));
  index.set('b', box(200, 200, 260, 220));
  assert.deepEqual(index.near(box(5, 5, 300, 300)).sort(), ['a', 'b']);
  assert.deepEqual(index.near(box(100, 100, 150, 150)), []);
  index.delete('a');
  assert.deepEqual(index.near(box(0, 0, 20, 20)), []);
  index.set('b', box(0, 0, 5, 5)); // moved
  assert.deepEqual(index.near(box(210, 205, 220, 210)), []);
  assert.deepEqual(index.near(box(0, 0, 1, 1)), ['b']);
});

test('a label that would cover a node or an earlier label is not drawn', () => {
  const planner = new LabelPlanner(0);
  planner.setObstacle('queue:a', box(100, 0, 350, 40));
  assert.equal(planner.place('e1', box(0, 0, 60, 16)), true);
  assert.equal(planner.place('e2', box(40, 8, 100, 24)), false, 'covers e1');
  assert.equal(planner.place('e3', box(90, 50, 140, 66)), true);
  assert.equal(planner.place('e4', box(300, 10, 360, 26)), false, 'covers the queue');
});

test('room freed by a label or a node that goes brings crowded labels back', () => {
  const planner = new LabelPlanner(0);
  planner.place('e1', box(0, 0, 60, 16));
  planner.place('e2', box(40, 8, 100, 24));
  assert.deepEqual(planner.removeLabel('e1'), ['e2']);
  planner.setObstacle('node', box(200, 0, 300, 40));
  planner.place('e3', box(250, 10, 320, 26));
  assert.deepEqual(planner.removeObstacle('node'), ['e3']);
});

test('a node that arrives on a label hides it; moving away shows it again', () => {
  const planner = new LabelPlanner(0);
  planner.place('e1', box(0, 0, 60, 16));
  const covered = planner.setObstacle('node', box(50, 0, 120, 40));
  assert.deepEqual(covered.hide, ['e1']);
  const moved = planner.setObstacle('node', box(500, 0, 560, 40));
  assert.deepEqual(moved.show, ['e1']);
});

test('an edge label sits near the target, clear of the target shape, never past half way', () => {
  const target = box(300, -20, 550, 20); // a queue box; the edge arrives at its left side
  const { box: label, offset } = edgeLabelBox({ x: 0, y: 0 }, { x: 300, y: 0 }, 80, 16, target);
  assert.ok(!intersects(label, target), 'covers the queue');
  assert.ok(offset <= 150, 'past half way');
  assert.ok(label.x2 <= 300 && label.x1 >= 150);
  const steep = edgeLabelBox({ x: 0, y: -200 }, { x: 300, y: 0 }, 80, 16, target);
  assert.ok(!intersects(steep.box, target), 'a steep edge: still clear of the queue');
  const short = edgeLabelBox({ x: 260, y: 0 }, { x: 300, y: 0 }, 80, 16, target);
  assert.ok(short.offset <= 20, 'a short edge: at most half its length (or the minimum)');
  const near = edgeLabelBox({ x: 0, y: 0 }, { x: 300, y: 0 }, 80, 16, target);
  assert.ok(near.box.x2 >= 300 - 12, 'as near the target as it can be');
});
