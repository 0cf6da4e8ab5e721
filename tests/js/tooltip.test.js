import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useVocabulary } from '../../static/js/vocabulary.js';

useVocabulary({
  default_exchange_label: '(AMQP default)',
  severities: [{ id: 'critical', label: 'critical', rank: 0 }, { id: 'warning', label: 'warning', rank: 1 }, { id: 'info', label: 'note', rank: 2 }],
  rules: { 'no-consumers': 'Backlog with no consumer', 'max-length': 'At its max-length' },
  node_kinds: { queue: { label: 'queue' }, worker: { label: 'Celery worker' } },
  edge_kinds: { binding: { label: 'binding' } },
});
const { edgeLines, nodeLines } = await import('../../static/js/tooltip.js');

test('a node\'s tooltip names it and lists its findings, most severe first, with the rule\'s title', () => {
  const lines = nodeLines({ kind: 'queue', name: 'orders' }, [
    { rule: 'max-length', severity: 'info', message: 'near its limit' },
    { rule: 'no-consumers', severity: 'warning', message: '420 messages ready and no consumer' },
  ]);
  assert.deepEqual(lines.map((l) => l.text), ['orders', 'queue', 'warning: Backlog with no consumer', '420 messages ready and no consumer',
    'note: At its max-length', 'near its limit']);
});

test('hostile text in a finding stays text, with invisible characters shown', () => {
  const [, , , message] = nodeLines({ kind: 'queue', name: 'q' }, [{ rule: 'x', severity: 'warning', message: '<img src=x onerror=alert(1)>\u202e' }]);
  assert.equal(message.text, '<img src=x onerror=alert(1)>‹U+202E›');
});

test('a worker\'s tooltip says whether it is online', () => {
  assert.equal(nodeLines({ kind: 'worker', name: 'w@h', online: false })[1].text, 'Celery worker · offline');
});

test('an edge\'s tooltip gives what its label may leave out: the key and the rate', () => {
  const lines = edgeLines({ kind: 'binding', routing_key: 'orders', flow: 2.5 }, { kind: 'exchange', name: 'shop', type: 'direct' }, { kind: 'queue', name: 'orders' });
  assert.deepEqual(lines.map((l) => l.text), ['shop → orders', 'binding', 'routing key: orders', 'about 2.5/s']);
});
