import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_WIDTH, MIN_WIDTH, STORAGE_KEY, clampWidth, readPrefs, wideWidth, writePrefs } from '../../static/js/sidebar.js';

function memory(initial = {}) {
  const items = { ...initial };
  return { getItem: (k) => (k in items ? items[k] : null), setItem: (k, v) => { items[k] = String(v); }, items };
}

test('a width stays inside what the window can hold, the graph keeping some room', () => {
  assert.equal(clampWidth(100, 1280), MIN_WIDTH);
  assert.equal(clampWidth(500, 1280), 500);
  assert.equal(clampWidth(5000, 1280), 1280 - 240);
  assert.equal(clampWidth(Number.NaN, 1280), DEFAULT_WIDTH);
  assert.equal(clampWidth(500, 400), MIN_WIDTH); // a tiny window: the sidebar keeps its minimum
});

test('the wide view takes most of the window', () => {
  assert.ok(wideWidth(1280) >= 900 && wideWidth(1280) <= 1280 - 240);
  assert.ok(wideWidth(1600) > wideWidth(1280));
});

test('the choice is remembered, and anything unreadable falls back to the defaults', () => {
  const storage = memory();
  assert.deepEqual(readPrefs(storage), { width: DEFAULT_WIDTH, collapsed: false, wide: false });
  writePrefs(storage, { width: 520, collapsed: true, wide: false });
  assert.deepEqual(readPrefs(storage), { width: 520, collapsed: true, wide: false });
  assert.deepEqual(readPrefs(memory({ [STORAGE_KEY]: '{not json' })), { width: DEFAULT_WIDTH, collapsed: false, wide: false });
  assert.deepEqual(readPrefs(memory({ [STORAGE_KEY]: '{"width":"wide","collapsed":"yes"}' })), { width: DEFAULT_WIDTH, collapsed: false, wide: false });
  const full = { getItem: () => null, setItem: () => { throw new Error('QuotaExceededError'); } };
  writePrefs(full, { width: 500, collapsed: false, wide: false }); // refused storage is not an error
  assert.deepEqual(readPrefs(undefined), { width: DEFAULT_WIDTH, collapsed: false, wide: false });
});
