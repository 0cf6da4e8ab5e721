import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as human from '../../static/js/humane.js';

test('counts get thousands separators and unknown is empty, never 0', () => {
  assert.equal(human.number(12345), '12,345');
  assert.equal(human.number(0), '0');
  assert.equal(human.number(null), '');
  assert.equal(human.number(undefined), '');
  assert.equal(human.number(Number.NaN), '');
});

test('rates read as messages a second, a trickle as "< 0.01", never a raw float', () => {
  assert.equal(human.perSecond(12.5), '12.5 msg/s');
  assert.equal(human.perSecond(0.0000010141482616665745), '< 0.01 msg/s');
  assert.equal(human.perSecond(0), '0 msg/s');
  assert.equal(human.perSecond(0.256), '0.26 msg/s');
  assert.equal(human.perSecond(1234.4), '1,234 msg/s');
  assert.equal(human.perSecond(3, 'task'), '3 task/s');
  assert.equal(human.perSecond(null), '');
});

test('durations pick the unit that reads best', () => {
  assert.equal(human.duration(0.0123), '12 ms');
  assert.equal(human.duration(0.0025), '2.5 ms');
  assert.equal(human.duration(0), '0 ms');
  assert.equal(human.duration(0.0000004), '< 1 ms');
  assert.equal(human.duration(2), '2 s');
  assert.equal(human.duration(2.46), '2.5 s');
  assert.equal(human.duration(45.4), '45 s');
  assert.equal(human.duration(90), '1 min 30 s');
  assert.equal(human.duration(3600 * 2 + 300), '2 h 5 min');
  assert.equal(human.duration(86400 * 3), '3 days');
  assert.equal(human.milliseconds(60000), '1 min');
});

test('percentages, bytes and yes/no', () => {
  assert.equal(human.percent(0.857), '86 %');
  assert.equal(human.percent(1), '100 %');
  assert.equal(human.percent(undefined), '');
  assert.equal(human.bytes(512), '512 B');
  assert.equal(human.bytes(1536), '1.5 KiB');
  assert.equal(human.bytes(10 * 1024 * 1024), '10 MiB');
  assert.equal(human.yesNo(true), 'yes');
  assert.equal(human.yesNo(false), 'no');
});

test('clock times are 24-hour, with milliseconds when asked', () => {
  const at = new Date(2026, 0, 2, 14, 3, 7, 125).getTime() / 1000;
  assert.equal(human.clockTime(at), '14:03:07');
  assert.equal(human.clockTime(at, { ms: true }), '14:03:07.125');
  assert.equal(human.clockTime(null), '');
  assert.equal(human.clockTime(0), '');
});

test('ago counts from the given now', () => {
  assert.equal(human.ago(100, 101), 'just now');
  assert.equal(human.ago(100, 130), '30 s ago');
  assert.equal(human.ago(100, 100 + 600), '10 min ago');
  assert.equal(human.ago(100, 100 + 3 * 3600), '3 h ago');
  assert.equal(human.ago(null, 100), '');
});

test('counted words agree with their number', () => {
  assert.equal(human.counted(1, 'task'), '1 task');
  assert.equal(human.counted(2, 'task'), '2 tasks');
  assert.equal(human.counted(1200, 'retry', 'retries'), '1,200 retries');
});
