import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useVocabulary } from '../../static/js/vocabulary.js';

useVocabulary({ default_exchange_label: '(AMQP default)' });
const format = await import('../../static/js/format.js');

test('a name shows its invisible characters as markers, and nothing else changes', () => {
  assert.equal(format.visibleName('orders.in'), 'orders.in');
  assert.equal(format.visibleName('exe.\u202efdp'), 'exe.‹U+202E›fdp');
  assert.equal(format.visibleName('a\tb\u200bc\u00a0d'), 'a‹U+0009›b‹U+200B›c‹U+00A0›d');
  assert.equal(format.visibleName('🐇 émoji  two'), '🐇 émoji  two'); // inner spaces stay as they are
  assert.equal(format.visibleName('\u3164'), '‹U+3164›'); // a Hangul filler: a letter drawn as nothing
});

test('spaces at either end of a name are marked, so q and "q " differ', () => {
  assert.equal(format.visibleName('q '), 'q‹U+0020›');
  assert.equal(format.visibleName(' q'), '‹U+0020›q');
  assert.notEqual(format.visibleName('q'), format.visibleName('q '));
  assert.equal(format.visibleName('  '), '‹U+0020›‹U+0020›');
});

test('a sentence keeps its own spaces but not the invisible characters of the names in it', () => {
  assert.equal(format.visibleText('x\u202e → q: fanout '), 'x‹U+202E› → q: fanout ');
});

test('markers carry the character\'s name for the tooltip', () => {
  const parts = format.nameParts('a\u202e');
  assert.deepEqual(parts, [{ text: 'a' }, { text: '‹U+202E›', title: 'U+202E right-to-left override' }]);
});

test('a lone surrogate is marked, not dropped', () => {
  assert.equal(format.visibleName('a\ud800b'), 'a‹U+D800›b');
});
