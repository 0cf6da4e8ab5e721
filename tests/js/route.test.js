import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useVocabulary } from '../../static/js/vocabulary.js';

useVocabulary({
  route_verdicts: { matched: { label: 'Matched' }, 'not-evaluated': { label: 'Not evaluated' } },
  route_statuses: { routed: { label: 'routed', tone: 'ok' } },
});
const { Tickets, explanationFor, implicitQueues, readHeaders, typedValue } = await import('../../static/js/features/route-logic.js');

test('only the newest question\'s answer may be shown', () => {
  const tickets = new Tickets();
  const slow = tickets.take();
  const newer = tickets.take();
  assert.equal(tickets.holds(slow), false);
  assert.equal(tickets.holds(newer), true);
});

test('a voided question (Clear, an edited form, a question that cannot be asked) shows nothing pending', () => {
  const tickets = new Tickets();
  const pending = tickets.take();
  tickets.void();
  assert.equal(tickets.holds(pending), false);
  assert.equal(tickets.holds(0), false);
  assert.equal(tickets.holds(tickets.take()), true); // the next question is shown again
});

test('typed header values, and errors that say what is wrong', () => {
  assert.equal(typedValue('n', 'integer', ' 42 '), 42);
  assert.equal(typedValue('f', 'float', '1.5'), 1.5);
  assert.equal(typedValue('b', 'boolean', 'false'), false);
  assert.equal(typedValue('s', 'string', ' as typed '), ' as typed ');
  assert.throws(() => typedValue('n', 'integer', 'abc'), /header n: 'abc' is not a number/);
  assert.throws(() => typedValue('n', 'integer', '1.5'), /not a whole number/);
  assert.throws(() => typedValue('b', 'boolean', 'yes'), /true or false/);
  assert.deepEqual(readHeaders([{ name: '', type: 'integer', value: 'x' }, { name: 'k', type: 'string', value: 'v' }]), { k: 'v' });
});

test('a clicked edge is explained by its own entry, else by its source exchange\'s verdict', () => {
  const answer = {
    bindings: [{ edge: 'binding:a', matched: true, verdict: 'matched', reason: 'key equals' }],
    otherwise: { 'exchange:other': { verdict: 'not-evaluated', reason: 'never reached' } },
  };
  assert.deepEqual(explanationFor(answer, 'binding:a', 'exchange:x'),
    { verdict: 'matched', label: 'Matched', reason: 'key equals', carried: true });
  assert.equal(explanationFor(answer, 'binding:b', 'exchange:other').label, 'Not evaluated');
  assert.equal(explanationFor(answer, 'dead-letter:q', 'queue:q'), null);
  assert.equal(explanationFor(null, 'binding:a', 'exchange:x'), null);
});

test('the implicit bindings a route passes come from its hops', () => {
  const hops = [{ via: 'default-exchange', to_id: 'queue:a' }, { via: 'binding', to_id: 'queue:b' }];
  assert.deepEqual(implicitQueues({ hops }), ['queue:a']);
  assert.deepEqual(implicitQueues(null), []);
});
