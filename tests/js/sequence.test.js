import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Sequencer } from '../../static/js/sequence.js';

const patch = (from, to, vhost = '/') => ({ vhost, from, to });

test('patches apply in order after a snapshot', () => {
  const s = new Sequencer();
  s.select('/');
  assert.equal(s.snapshot({ vhost: '/', version: 5 }), 'apply');
  assert.equal(s.patch(patch(5, 6)), 'apply');
  assert.equal(s.patch(patch(6, 9)), 'apply');
  assert.equal(s.version, 9);
});

test('a patch before any snapshot, or for another vhost, is ignored', () => {
  const s = new Sequencer();
  s.select('/');
  assert.equal(s.patch(patch(1, 2)), 'ignore');
  s.snapshot({ vhost: '/', version: 1 });
  assert.equal(s.patch(patch(1, 2, 'other')), 'ignore');
  assert.equal(s.version, 1);
});

test('a patch already in the snapshot is dropped', () => {
  const s = new Sequencer();
  s.select('/');
  s.snapshot({ vhost: '/', version: 7 });
  assert.equal(s.patch(patch(6, 7)), 'ignore');
  assert.equal(s.version, 7);
});

test('a gap asks for one resync, and the snapshot that answers it resumes the stream', () => {
  const s = new Sequencer();
  s.select('/');
  s.snapshot({ vhost: '/', version: 3 });
  assert.equal(s.patch(patch(4, 5)), 'resync');
  assert.equal(s.patch(patch(5, 6)), 'ignore', 'no second resync while one is pending');
  assert.equal(s.version, 3, 'nothing applied out of order');
  assert.equal(s.snapshot({ vhost: '/', version: 6 }), 'apply');
  assert.equal(s.patch(patch(6, 7)), 'apply');
});

test('a snapshot for a vhost no longer shown is ignored', () => {
  const s = new Sequencer();
  s.select('/');
  s.select('other');
  assert.equal(s.snapshot({ vhost: '/', version: 2 }), 'ignore');
  assert.equal(s.version, null);
});
