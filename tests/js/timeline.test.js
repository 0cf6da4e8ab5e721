import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PlayClock, bandsAt, depthSeries, fractionOf, incidents, takeDue, taskCounts, timeAt, unrecorded, within,
} from '../../static/js/timeline-logic.js';
import { readView, writeView } from '../../static/js/share.js';
import { exportName, xmlSafe } from '../../static/js/export.js';

const window = { from: 1000, to: 2000 };

test('a moment and its place on the strip are each other\'s inverse, kept inside the window', () => {
  for (const t of [1000, 1250.5, 1999, 2000]) assert.equal(timeAt(fractionOf(t, window), window), t);
  assert.equal(fractionOf(500, window), 0);
  assert.equal(fractionOf(2500, window), 1);
  assert.equal(timeAt(-1, window), 1000);
  assert.equal(within(3000, window), 2000);
  assert.equal(fractionOf(5, { from: 5, to: 5 }), 1, 'an empty window puts everything at its end');
});

test('findings and outages become bands from appearing to clearing; an open one runs to the end', () => {
  const marks = [
    { t: 1100, kind: 'finding-appeared', vhost: '/', rule: 'no-consumers', node: 'queue:a', severity: 'warning', message: 'm' },
    { t: 1150, kind: 'source-down', source: 'management', state: 'unreachable', last_error: 'refused' },
    { t: 1200, kind: 'finding-appeared', vhost: '/', rule: 'no-consumers', node: 'queue:b', severity: 'critical', message: 'n' },
    { t: 1300, kind: 'finding-cleared', vhost: '/', rule: 'no-consumers', node: 'queue:a', severity: 'warning' },
    { t: 1400, kind: 'source-up', source: 'management', since: 1150 },
    { t: 1500, kind: 'finding-cleared', vhost: '/', rule: 'dead-letters', node: 'queue:c', since: 900 },
  ];
  const bands = incidents(marks, window);
  const brief = bands.map((b) => [b.kind, b.node ?? b.source, b.from, b.to, b.open]);
  assert.deepEqual(brief, [
    ['finding', 'queue:c', 1000, 1500, false], // began before the window: drawn from its start
    ['finding', 'queue:a', 1100, 1300, false],
    ['outage', 'management', 1150, 1400, false],
    ['finding', 'queue:b', 1200, 2000, true],
  ]);
  assert.equal(bands.find((b) => b.kind === 'outage').detail, 'refused');
  assert.equal(bands.find((b) => b.node === 'queue:b').severity, 'critical');
});

test('a finding restated by a new span of recording ends its first band there; bandsAt finds what is open', () => {
  const appeared = { kind: 'finding-appeared', vhost: '/', rule: 'no-consumers', node: 'queue:a', severity: 'warning' };
  const bands = incidents([{ ...appeared, t: 1100 }, { ...appeared, t: 1600 }], window);
  assert.deepEqual(bands.map((b) => [b.from, b.to, b.open]), [[1100, 1600, false], [1600, 2000, true]]);
  assert.deepEqual(bandsAt(bands, 1300).map((b) => b.from), [1100]);
  assert.deepEqual(bandsAt(bands, 1050), []);
});

test('the stretches no span covers are the ones not recorded', () => {
  assert.deepEqual(unrecorded([{ from: 1000, to: 1200 }, { from: 1500, to: 1800 }], window),
    [{ from: 1200, to: 1500 }, { from: 1800, to: 2000 }]);
  assert.deepEqual(unrecorded([{ from: 900, to: 2100 }], window), []);
  assert.deepEqual(unrecorded([], window), [], 'no spans known: nothing is drawn as missing');
});

test('the play clock runs at its speed and keeps the moment reached when the speed changes', () => {
  let now = 0;
  const clock = new PlayClock(1000, 15, () => now);
  now = 2000;
  assert.equal(clock.t, 1030);
  clock.setSpeed(60);
  now = 3000;
  assert.equal(clock.t, 1090);
});

test('frames are taken when due, in order, and the rest wait', () => {
  const queue = [{ t: 1 }, { t: 2 }, { t: 2 }, { t: 5 }];
  assert.deepEqual(takeDue(queue, 2).map((f) => f.t), [1, 2, 2]);
  assert.deepEqual(queue.map((f) => f.t), [5]);
  assert.deepEqual(takeDue(queue, 4), []);
});

test('task counts: sent on queues, finished by state on workers', () => {
  const frames = [
    { nodes: { 'queue:q': { states: { sent: 3 } }, 'worker:w1': { states: { succeeded: 2, failed: 1 } } } },
    { nodes: { 'worker:w2': { states: { succeeded: 4, retried: 1, received: 9 } }, 'exchange:x': { states: { sent: 7 } } } },
    null,
  ];
  assert.deepEqual(taskCounts(frames), { sent: 3, succeeded: 6, failed: 1, retried: 1 });
});

test('the view round-trips through the address, keeping its other parameters', () => {
  const view = { vhost: 'a&b=c/d', at: 1796235412.375, node: 'queue:orders?#x', routeExchange: 'ev ents',
    routeKey: '', taskSearch: 'tasks.add', taskState: 'failed', traceExchange: 'x', traceQueue: 'q' };
  const search = writeView('?debug=1', view);
  assert.ok(search.startsWith('?debug=1&'));
  assert.deepEqual(readView(search), view);
  assert.equal(writeView(search, { vhost: '/' }), '?debug=1&vhost=%2F', 'absent parts are removed');
});

test('a hand-made address gives only what makes sense', () => {
  assert.deepEqual(readView('?at=yesterday&node=&route_key=k'), {}, 'no time, an empty node, a key without exchange');
  assert.deepEqual(readView('?at=-5'), {});
  assert.deepEqual(readView(`?node=${'x'.repeat(5000)}`), {});
  assert.deepEqual(readView('?at=1e9&route_exchange=&route_key=a.b'), { at: 1e9, routeExchange: '', routeKey: 'a.b' });
});

test('export file names carry the vhost (made safe) and the moment', () => {
  const t = new Date(2026, 2, 1, 3, 12, 5).getTime() / 1000; // local time, as the page shows it
  assert.equal(exportName('/', t, 'png'), 'rabbitmq-default-20260301-031205.png');
  assert.equal(exportName('../../etc/pass wd', t, 'svg'), 'rabbitmq-etc_pass_wd-20260301-031205.svg');
  assert.equal(exportName('', t, 'svg'), 'rabbitmq-vhost-20260301-031205.svg');
});

test('text in the SVG is what XML can hold: forbidden characters become U+FFFD, the rest is kept', () => {
  assert.equal(xmlSafe('a\u0000b\u001bc\td\ne'), 'a\uFFFDb\uFFFDc\td\ne');
  assert.equal(xmlSafe('<script>&"\'😀\u202e'), '<script>&"\'😀\u202e', 'markup characters are escaped by the serializer, not here');
  assert.equal(xmlSafe('x\uD800y'), 'x\uFFFDy');
});

test('a recorded depth series leaves unknown depths out, holds to the end, and finds the first peak', () => {
  const points = [
    { t: 10, messages_ready: 0, messages_unacknowledged: 0 },
    { t: 20, messages_ready: null, messages_unacknowledged: null },
    { t: 30, messages_ready: 40, messages_unacknowledged: 2 },
    { t: 40, messages_ready: 40, messages_unacknowledged: 1 },
    { t: 50, messages_ready: 5, messages_unacknowledged: null },
  ];
  const { series, peak } = depthSeries(points, 90);
  assert.deepEqual(series, [[10, 0, 0], [30, 40, 2], [40, 40, 1], [50, 5, undefined], [90, 5, undefined]]);
  assert.deepEqual(peak, { t: 30, ready: 40 });
  assert.deepEqual(depthSeries([{ t: 1, messages_ready: null }], 5), { series: [], peak: null }, 'never known: nothing, not zeros');
});
