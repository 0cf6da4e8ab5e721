import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STORAGE_KEY, chooseVhost, rememberVhost, storedVhost } from '../../static/js/vhosts.js';

const names = ['/', 'shop', 'billing'];

test('the URL\'s ?vhost= wins over the user\'s last choice, which wins over the server\'s suggestion', () => {
  assert.equal(chooseVhost({ names, wanted: 'billing', stored: 'shop', suggested: '/' }), 'billing');
  assert.equal(chooseVhost({ names, stored: 'shop', suggested: 'billing' }), 'shop');
  assert.equal(chooseVhost({ names, suggested: 'billing' }), 'billing');
  assert.equal(chooseVhost({ names }), '/');
  assert.equal(chooseVhost({ names: ['x', 'y'] }), 'x');
  assert.equal(chooseVhost({ names: [] }), null);
});

test('the vhost on screen stays while it exists; names that are gone are passed over', () => {
  assert.equal(chooseVhost({ names, current: 'shop', wanted: 'billing' }), 'shop');
  assert.equal(chooseVhost({ names, current: 'gone', wanted: 'gone', stored: 'gone', suggested: 'billing' }), 'billing');
});

test('the choice is remembered, and refused storage is no error', () => {
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
  rememberVhost(storage, 'shop');
  assert.equal(store.get(STORAGE_KEY), 'shop');
  assert.equal(storedVhost(storage), 'shop');
  const refusing = { getItem: () => { throw new Error('denied'); }, setItem: () => { throw new Error('denied'); } };
  assert.equal(storedVhost(refusing), null);
  assert.doesNotThrow(() => rememberVhost(refusing, 'shop'));
});
