import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useVocabulary } from '../../static/js/vocabulary.js';

useVocabulary({ default_exchange_label: '(AMQP default)' });
const format = await import('../../static/js/format.js');

test('counts abbreviate only past ten thousand, and unknown is a dash, never 0', () => {
  assert.equal(format.count(0), '0');
  assert.equal(format.count(9999), '9999');
  assert.equal(format.count(12345), '12.3k');
  assert.equal(format.count(2500000), '2.5M');
  assert.equal(format.count(null), '–');
  assert.equal(format.count(undefined), '–');
});

test('rates read per second', () => {
  assert.equal(format.rate(0.04), '0/s');
  assert.equal(format.rate(2.56), '2.6/s');
  assert.equal(format.rate(1234.4), '1234/s');
  assert.equal(format.rate(null), '');
});

test('shorten counts characters, not UTF-16 units, and marks the cut', () => {
  assert.equal(format.shorten('🐇📨🐇📨', 3), '🐇📨…');
  assert.equal(format.shorten('short', 10), 'short');
});

test('the default exchange is named with the label the server sends', () => {
  assert.equal(format.displayName({ kind: 'exchange', name: '' }), '(AMQP default)');
  assert.equal(format.displayName({ kind: 'queue', name: '' }), '');
});
