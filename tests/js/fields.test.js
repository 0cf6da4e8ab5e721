import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { argumentInfo, fieldFor, terminalTaskStates, useVocabulary } from '../../static/js/vocabulary.js';

// The server's own vocabulary (visualiser/contract/vocabulary.py), as the page receives it.
const python = new URL('../../.venv/bin/python', import.meta.url).pathname;
const words = JSON.parse(execFileSync(python, ['-c', 'import json; from visualiser.contract.vocabulary import vocabulary; print(json.dumps(vocabulary()))'],
  { cwd: new URL('../..', import.meta.url).pathname }));
useVocabulary(words);

test('a field reads with its label and format, a kind overriding the general one', () => {
  assert.equal(fieldFor('queue', 'messages_ready').format, 'count');
  assert.equal(fieldFor('queue', 'online').format, 'list'); // a queue's replicas online
  assert.equal(fieldFor('worker', 'online').format, 'yes-no'); // a worker's state
  assert.equal(fieldFor('consumer', 'active').format, 'yes-no');
  assert.equal(fieldFor('worker', 'active').format, 'count');
  assert.equal(fieldFor('queue', 'fillStops'), null); // the page's own bookkeeping is not a field
  assert.equal(fieldFor('queue', 'rates').format, 'rates');
});

test('a value nobody reported says so, in the words of the kind and field', () => {
  assert.match(fieldFor('queue', 'messages_ready').missing, /^unknown \(the broker does not report it\)$/);
  assert.match(fieldFor('worker', 'pid').missing, /worker/);
  assert.match(fieldFor('worker', 'pool').missing, /--inspect/);
  assert.equal(fieldFor('queue', 'policy').missing, 'none');
  assert.equal(fieldFor('queue', 'delivery_limit').missing, ''); // does not apply: the row hides
});

test('queue arguments and policy keys have human labels, with or without x-', () => {
  assert.deepEqual(argumentInfo('x-message-ttl'), { label: 'Message TTL', format: 'ms' });
  assert.deepEqual(argumentInfo('message-ttl'), { label: 'Message TTL', format: 'ms' });
  assert.equal(argumentInfo('x-custom-thing'), null);
  assert.deepEqual(terminalTaskStates().sort(), ['failed', 'rejected', 'revoked', 'succeeded']);
});
