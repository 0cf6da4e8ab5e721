import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useVocabulary } from '../../static/js/vocabulary.js';

useVocabulary({
  source_states: { ok: { label: 'ok', healthy: true }, starting: { label: 'starting', healthy: true },
    unreachable: { label: 'unreachable', healthy: false }, unauthorised: { label: 'unauthorised', healthy: false } },
  sources: { 'management-api': 'RabbitMQ management API', 'celery-events': 'Celery events', trace: 'firehose trace',
    definitions: 'definitions file' },
  source_outages: { 'management-api': 'the graph is the last one read', 'celery-events': 'tasks are missing' },
  trace_source_prefix: 'trace:',
});
const { duration, failing, outageLine, sourceName, sourceSummary } = await import('../../static/js/health.js');

const NOW = 1_000_000;
const management = { source: 'management-api', state: 'unreachable', since: NOW - 125, last_error: 'connection refused.', last_success: null };
const celery = { source: 'celery-events', state: 'unauthorised', since: NOW - 40, last_error: 'ACCESS_REFUSED' };
const fine = { source: 'demo', state: 'ok', since: NOW - 5 };

test('every failing source is listed, the graph\'s own first', () => {
  const statuses = new Map([[celery.source, celery], [fine.source, fine], [management.source, management]]);
  assert.deepEqual(failing(statuses, 'management-api').map((s) => s.source), ['management-api', 'celery-events']);
  assert.deepEqual(failing(statuses, 'celery-events').map((s) => s.source), ['celery-events', 'management-api']);
});

test('each line has the source, its state, for how long, its own error and what it means', () => {
  assert.equal(outageLine(celery, { now: NOW }),
    'Celery events unauthorised for 40 s: ACCESS_REFUSED. Tasks are missing; retrying by itself.');
  assert.equal(outageLine(management, { now: NOW, topology: true }),
    'RabbitMQ management API unreachable for 2 min: connection refused. No graph has been read yet; retrying by itself.');
  const read = { ...management, last_success: NOW - 300 };
  assert.match(outageLine(read, { now: NOW, topology: true, clock: () => '12:00:00' }), /the last one read, at 12:00:00;/);
});

test('durations read as people say them', () => {
  assert.equal(duration(0), '0 s');
  assert.equal(duration(89), '89 s');
  assert.equal(duration(125), '2 min');
  assert.equal(duration(7200), '2 h');
  assert.equal(duration(4 * 86400), '4 days');
});

test('source names come from the vocabulary, trace sources with their vhost', () => {
  assert.equal(sourceName('definitions'), 'definitions file');
  assert.equal(sourceName('trace:/orders'), 'firehose trace (/orders)');
  assert.equal(sourceSummary({ source: 'definitions', state: 'ok' }), 'definitions file:');
  assert.equal(sourceSummary(management), 'RabbitMQ management API: unreachable');
});
