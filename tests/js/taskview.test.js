import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as view from '../../static/js/taskview.js';

test('a refresh asks only for the filters that are set', () => {
  const query = view.taskQuery({ search: '  3f2a ', state: 'failed', worker: '', queue: undefined },
    { limit: 100, include: ['tasks', 'workers', 'failures'] });
  assert.equal(query, 'include=tasks%2Cworkers%2Cfailures&limit=100&search=3f2a&state=failed');
  assert.equal(view.taskQuery({}), '');
});

test('a click on a worker, a queue or a queue → worker edge filters the task list', () => {
  assert.deepEqual(view.selectionFilter({ kind: 'worker', name: 'w@h' }), { worker: 'w@h', queue: '' });
  assert.deepEqual(view.selectionFilter({ kind: 'queue', name: 'payments' }), { queue: 'payments', worker: '' });
  const edge = { kind: 'consumes', worker: true };
  assert.deepEqual(view.selectionFilter(edge, { kind: 'queue', name: 'q' }, { kind: 'worker', name: 'w' }), { queue: 'q', worker: 'w' });
  assert.equal(view.selectionFilter({ kind: 'exchange', name: 'x' }), null);
  assert.equal(view.selectionFilter({ kind: 'binding' }, { kind: 'exchange' }, { kind: 'queue' }), null);
  assert.equal(view.selectionFilter(null), null);
});

test('a timeline gives the time between steps and since the first', () => {
  const steps = view.timelineSteps([
    { state: 'sent', time: 100 }, { state: 'received', time: 100.004 }, { state: 'started', time: 100.005 },
    { state: 'failed', time: 100.235 },
  ]);
  assert.deepEqual(steps.map((s) => s.state), ['sent', 'received', 'started', 'failed']);
  assert.equal(steps[0].gap, null);
  assert.ok(Math.abs(steps[1].gap - 0.004) < 1e-9);
  assert.ok(Math.abs(steps[3].gap - 0.23) < 1e-9);
  assert.ok(Math.abs(steps[3].total - 0.235) < 1e-9);
  assert.equal(view.gapText(steps[3].gap), '+230 ms');
  assert.equal(view.gapText(-2), '−2 s (clocks differ)');
  assert.deepEqual(view.timelineSteps(undefined), []);
});

test('a row shows the first line of its exception, else its retries', () => {
  assert.equal(view.rowNote({ exception: "ValueError('no\nsecond line')" }), "ValueError('no");
  assert.equal(view.rowNote({ exception: '  KeyError(   "a"  )  ' }), 'KeyError( "a" )');
  assert.equal(view.rowNote({ retries: 2 }), '2 retries');
  assert.equal(view.rowNote({ retries: 1 }), '1 retry');
  assert.equal(view.rowNote({}), '');
});

test('the number on the Tasks tab says what it counts', () => {
  assert.deepEqual(view.failedCount({ window: 60, counts: { failed: 3, succeeded: 10 } }),
    { count: 3, title: '3 tasks failed in the last minute' });
  assert.deepEqual(view.failedCount({ window: 60, counts: { failed: 1 } }), { count: 1, title: '1 task failed in the last minute' });
  assert.deepEqual(view.failedCount({ window: 60, counts: {} }), { count: 0, title: 'No task failed in the last minute' });
  assert.equal(view.failedCount({ window: 300, counts: {} }).title, 'No task failed in the last 5 min');
});

test('a task is finished in a terminal state', () => {
  const terminal = ['succeeded', 'failed', 'revoked', 'rejected'];
  assert.equal(view.isFinished({ state: 'failed' }, terminal), true);
  assert.equal(view.isFinished({ state: 'retried' }, terminal), false);
  assert.equal(view.isFinished(null, terminal), false);
});
