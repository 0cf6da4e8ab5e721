// Figures in human terms, as plain text: thousands separators, rates per second, durations,
// clock times, percentages, bytes. Pure: no DOM, so the page's tests run it in Node. A figure
// nobody reported is never shown as 0: callers say so in words instead.

const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const DECIMAL1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const DECIMAL2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

const isNumber = (n) => typeof n === 'number' && Number.isFinite(n);

/** A whole count with thousands separators: 12345 → "12,345". */
export function number(n) {
  return isNumber(n) ? NUMBER.format(n) : '';
}

/** A figure with a sensible number of decimals for its size. */
export function decimal(n) {
  if (!isNumber(n)) return '';
  const size = Math.abs(n);
  if (size >= 100) return NUMBER.format(n);
  if (size >= 10) return DECIMAL1.format(n);
  return DECIMAL2.format(n);
}

/** A rate per second: "12.5 msg/s", "< 0.01 msg/s" for a trickle, never a raw float. */
export function perSecond(r, unit = 'msg') {
  if (!isNumber(r)) return '';
  if (r === 0) return `0 ${unit}/s`;
  if (Math.abs(r) < 0.01) return `< 0.01 ${unit}/s`;
  return `${decimal(r)} ${unit}/s`;
}

/** A fraction 0..1 as a percentage: 0.857 → "86 %". */
export function percent(fraction) {
  return isNumber(fraction) ? `${NUMBER.format(Math.round(fraction * 100))} %` : '';
}

/** A duration in seconds, in the unit that reads best: "850 ms", "2 s", "1 min 30 s", "2 h 5 min". */
export function duration(seconds) {
  if (!isNumber(seconds)) return '';
  const s = Math.abs(seconds);
  if (s < 0.001) return s === 0 ? '0 ms' : '< 1 ms';
  if (s < 1) return `${DECIMAL1.format(s * 1000 >= 10 ? Math.round(s * 1000) : s * 1000)} ms`;
  if (s < 60) return `${DECIMAL1.format(s < 10 ? Math.round(s * 10) / 10 : Math.round(s))} s`;
  if (s < 3600) {
    const min = Math.floor(s / 60);
    const rest = Math.round(s - min * 60);
    return rest ? `${min} min ${rest} s` : `${min} min`;
  }
  if (s < 86400 * 2) {
    const h = Math.floor(s / 3600);
    const min = Math.round((s - h * 3600) / 60);
    return min ? `${h} h ${min} min` : `${h} h`;
  }
  return `${DECIMAL1.format(s / 86400)} days`;
}

/** A duration given in milliseconds (queue arguments such as x-message-ttl). */
export function milliseconds(ms) {
  return isNumber(ms) ? duration(ms / 1000) : '';
}

/** A size in bytes: "512 B", "1.5 MiB". */
export function bytes(n) {
  if (!isNumber(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${unit ? decimal(value) : NUMBER.format(value)} ${units[unit]}`;
}

const two = (n) => String(n).padStart(2, '0');

/** A clock time of day, 24-hour, from epoch seconds: "14:03:07", or "14:03:07.125" with ms. */
export function clockTime(epochSeconds, { ms = false } = {}) {
  if (!isNumber(epochSeconds) || epochSeconds <= 0) return '';
  const d = new Date(epochSeconds * 1000);
  const base = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return ms ? `${base}.${String(d.getMilliseconds()).padStart(3, '0')}` : base;
}

/** How long ago, from epoch seconds and now (epoch seconds): "just now", "12 s ago", "5 min ago". */
export function ago(epochSeconds, now = Date.now() / 1000) {
  if (!isNumber(epochSeconds) || epochSeconds <= 0) return '';
  const s = Math.max(0, now - epochSeconds);
  if (s < 2) return 'just now';
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export function yesNo(value) {
  return value ? 'yes' : 'no';
}

/** "1 task", "2 tasks", with the count's thousands separators. */
export function counted(n, word, plural = `${word}s`) {
  return `${number(n)} ${n === 1 ? word : plural}`;
}
