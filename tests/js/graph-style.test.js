import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useVocabulary } from '../../static/js/vocabulary.js';

useVocabulary({ default_exchange_label: '(AMQP default)' });
const style = await import('../../static/js/graph-style.js');
const { LOD, MIN_TEXT_PX, badgeImage, depthFill, depthThresholds, exchangeWidth, flowWidth, labelFor, lodFont, lodFor, shortLabel } = style;

const queue = (extra = {}) => ({ kind: 'queue', name: 'orders.created', type: 'classic', messages_ready: 420, messages_unacknowledged: 3, consumers: 1,
  rates: { publish: 12.3, deliver_get: 11.04 }, ...extra });

test('every level of detail is drawn at least 11 px, and the most detailed one that is', () => {
  for (let zoom = 0.2; zoom <= 3; zoom += 0.01) {
    const id = lodFor(zoom);
    if (id === 'none') {
      assert.ok(LOD.every((level) => level.font * zoom < MIN_TEXT_PX), `zoom ${zoom}: nothing fits, so nothing is drawn`);
      continue;
    }
    assert.ok(lodFont(id) * zoom >= MIN_TEXT_PX, `zoom ${zoom}: ${id} is drawn ${lodFont(id) * zoom}px`);
    const index = LOD.findIndex((level) => level.id === id);
    if (index > 0) assert.ok(LOD[index - 1].font * zoom < MIN_TEXT_PX, `zoom ${zoom}: a more detailed level would have been readable`);
  }
  assert.equal(lodFor(1), 'full');
  assert.equal(MIN_TEXT_PX, 11);
});

test('a queue label says its name, depth, unacked and flow; unknown figures are "?", never 0', () => {
  const narrow = (text) => Array.from(text).length * 6;
  assert.equal(labelFor(queue(), { measure: narrow }), 'orders.created\n420 ready · 3 unacked   ↓12 ↑11/s');
  const blind = labelFor(queue({ messages_ready: null, messages_unacknowledged: null, rates: {} }));
  assert.match(blind, /\? ready · \? unacked/);
  assert.doesNotMatch(blind, /\b0 ready/);
  assert.equal(labelFor(queue({ type: 'quorum', members: ['a', 'b', 'c'], online: ['a', 'b'] })).split('\n')[1], 'quorum · 2/3 replicas up');
});

test('a queue\'s figures never spill out of its box: the rates go first, then "unacked"', () => {
  const wide = (text) => Array.from(text).length * 8;
  assert.equal(labelFor(queue(), { measure: wide }), 'orders.created\n420 ready · 3 unacked');
  const wider = (text) => Array.from(text).length * 12;
  assert.equal(labelFor(queue(), { measure: wider }), 'orders.created\n420 ready');
});

test('a binding shows its key, except a fanout and a key that is the queue\'s own name', () => {
  assert.equal(labelFor({ kind: 'binding', routing_key: 'order.*', destination_type: 'queue' }, { sourceType: 'topic', targetName: 'orders' }), 'order.*');
  assert.equal(labelFor({ kind: 'binding', routing_key: 'orders', destination_type: 'queue' }, { sourceType: 'direct', targetName: 'orders' }), '');
  assert.equal(labelFor({ kind: 'binding', routing_key: 'x', destination_type: 'queue' }, { sourceType: 'fanout', targetName: 'q' }), '');
  assert.equal(labelFor({ kind: 'binding', routing_key: '', destination_type: 'queue' }, { sourceType: 'direct', targetName: 'q' }), '""');
});

test('smaller levels of detail keep what fits: two lines at first, then the name and its depth', () => {
  const box = { w: 250, h: 42 };
  const two = shortLabel(queue(), LOD[1].font, box);
  assert.equal(two.split('\n').length, 2);
  assert.match(two, /^orders\.created\n420 ready/);
  const one = shortLabel(queue({ name: 'a-very-long-queue-name-that-cannot-fit-in-one-box' }), LOD[3].font, box);
  assert.equal(one.split('\n').length, 1);
  assert.match(one, / · 420$/, 'the depth survives the cut');
  const offline = shortLabel({ kind: 'worker', name: 'worker-emails@demo', online: false }, LOD[3].font, { w: 230, h: 57 });
  assert.match(offline, /offline$/);
  const lone = shortLabel({ kind: 'consumer', name: 'None4' }, LOD[3].font, { w: 170, h: 24 }, { connection: 'billing' });
  assert.equal(lone, 'billing', 'a connection\'s only consumer names the connection once its own label is gone');
});

test('an exchange is wide enough for its name and type line, within bounds', () => {
  const measure = (text) => Array.from(text).length * 7;
  const short = exchangeWidth({ kind: 'exchange', name: 'x', type: 'direct' }, measure);
  const long = exchangeWidth({ kind: 'exchange', name: 'a'.repeat(80), type: 'topic' }, measure);
  const mid = exchangeWidth({ kind: 'exchange', name: 'payments.events', type: 'topic' }, measure);
  assert.ok(short >= 96 && long <= 220 && short <= mid && mid <= long);
});

test('the depth fill turns amber and red at the counts the legend gives', () => {
  const { half, full } = depthThresholds();
  const colour = (n) => depthFill({ messages_ready: n }).fillColour.split(' ')[0];
  assert.notEqual(colour(half - 1), colour(half));
  assert.notEqual(colour(full - 1), colour(full));
  assert.equal(colour(0), colour(half - 1));
  assert.equal(depthFill({ messages_ready: null }).fillStops, '0 0 0 100', 'unknown depth is drawn empty');
});

test('edge width grows with the rate, and an unknown rate keeps the base width', () => {
  assert.equal(flowWidth(null), flowWidth(0));
  assert.ok(flowWidth(1) < flowWidth(10) && flowWidth(10) < flowWidth(1000));
  assert.ok(flowWidth(1e9) <= 9);
});

test('badges are SVG images, one per severity', () => {
  const images = ['critical', 'warning', 'info'].map(badgeImage);
  images.forEach((uri) => assert.match(uri, /^data:image\/svg\+xml;utf8,%3Csvg/));
  assert.equal(new Set(images).size, 3);
});
