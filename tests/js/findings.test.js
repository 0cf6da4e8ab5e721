import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useVocabulary } from '../../static/js/vocabulary.js';

useVocabulary({ severities: [{ id: 'critical', rank: 0 }, { id: 'warning', rank: 1 }, { id: 'info', rank: 2 }] });
const { applyFindingsFrame, findingKey } = await import('../../static/js/findings-logic.js');

const stalled = { rule: 'no-consumers', node: 'queue:orders', severity: 'warning', message: '3 ready', since: 20 };
const growing = { rule: 'backlog-growing', node: 'queue:orders', severity: 'warning', message: 'growing', since: 10 };
const gone = { rule: 'no-consumers', node: 'queue:billing', severity: 'critical', message: 'stuck', since: 30 };

test('a diff adds, changes and removes findings named by rule and node, in the server\'s order', () => {
  const start = applyFindingsFrame([], { vhost: '/', added: [stalled, gone] });
  assert.deepEqual(start.map(findingKey), [findingKey(gone), findingKey(stalled)]); // critical first
  const next = applyFindingsFrame(start, {
    vhost: '/', added: [growing], removed: [{ rule: gone.rule, node: gone.node }],
    changed: [{ ...stalled, severity: 'critical', message: '900 ready' }],
  });
  assert.deepEqual(next.map((f) => [f.rule, f.severity, f.message]),
    [['no-consumers', 'critical', '900 ready'], ['backlog-growing', 'warning', 'growing']]);
  assert.equal(start.length, 2, 'the list it was given is left as it was');
});

test('a whole list (a recording replayed) replaces what was there', () => {
  const held = applyFindingsFrame([], { vhost: '/', added: [stalled, gone] });
  assert.deepEqual(applyFindingsFrame(held, { vhost: '/', findings: [growing] }), [growing]);
  assert.deepEqual(applyFindingsFrame(held, { vhost: '/', findings: [] }), []);
});

test('diffs replayed over a newer list converge: each names the whole state of its findings', () => {
  const frames = [{ added: [stalled] }, { removed: [stalled] }, { added: [gone] }];
  const live = frames.reduce(applyFindingsFrame, []);
  const fetchedAfterTheSecond = [];
  assert.deepEqual(frames.reduce(applyFindingsFrame, fetchedAfterTheSecond), live);
});

test('garbage in a frame is ignored, not thrown', () => {
  assert.deepEqual(applyFindingsFrame([stalled], { added: 'x', removed: null }), [stalled]);
  assert.deepEqual(applyFindingsFrame([stalled], null), [stalled]);
});
