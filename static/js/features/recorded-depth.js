// A queue's depth over the whole recording, at the bottom of its Details (GET /api/history,
// docs/recording.md), with its peak and a button that shows the peak's moment on the graph.
// Shown only where the service records (or replays a file). Names reach the page as text only.
import { depthChart } from '../chart.js';
import * as human from '../humane.js';
import { depthSeries } from '../timeline-logic.js';

const FRESH_MS = 10000; // live, the recording grows: ask again at most this often
const HEIGHT = 140;

class RecordedDepth {
  constructor(app) {
    this.app = app;
    this.cache = new Map(); // vhost\nnode -> {at, body}
    this.current = null;
    this.observer = new ResizeObserver((entries) => entries.forEach((entry) => this.draw(entry.target)));
  }

  section(ele) {
    const window = this.app.timeline?.window;
    if (!window || ele.isEdge() || ele.data('kind') !== 'queue') return null;
    const { el } = this.app.format;
    const box = el('section', { class: 'details-section depth-chart recorded-depth', dataset: { node: ele.id() } },
      el('h3', { text: 'Depth over the recording' }),
      el('div', { class: 'chart-area' }),
      el('p', { class: 'muted chart-caption', text: 'Loading the recording…' }));
    box.key = `${this.app.vhost}\n${ele.id()}`;
    if (this.current) this.observer.unobserve(this.current);
    this.current = box;
    this.observer.observe(box);
    const cached = this.cache.get(box.key);
    const stale = !cached || (this.app.past === null && Date.now() - cached.at > FRESH_MS);
    if (stale) this.fetch(this.app.vhost, ele.id(), box.key);
    return box;
  }

  async fetch(vhost, node, key) {
    this.cache.set(key, { at: Date.now(), body: this.cache.get(key)?.body ?? null });
    try {
      const response = await fetch(`/api/history?${new URLSearchParams({ vhost, node })}`, { headers: { Accept: 'application/json' } });
      const body = response.ok ? await response.json() : { points: [] };
      this.cache.set(key, { at: Date.now(), body });
      if (this.current?.key === key && this.current.isConnected) this.draw(this.current);
    } catch (err) {
      console.warn('recorded depth: could not load', err);
    }
  }

  draw(box) {
    const body = this.cache.get(box.key)?.body;
    const area = box.querySelector('.chart-area');
    const caption = box.querySelector('.chart-caption');
    if (!area || !body) return;
    const end = body.window?.to ?? body.to;
    const { series, peak } = depthSeries(body.points, end);
    if (!series.length) {
      area.replaceChildren();
      caption.textContent = 'Its depth was never known while recording (statistics off, or not read yet).';
      return;
    }
    const width = Math.floor(area.clientWidth);
    if (width < 100) return; // not laid out yet: the observer draws it once it is
    const span = Math.max(60, end - (body.window?.from ?? series[0][0]));
    area.replaceChildren(depthChart(series, { windowSeconds: span, width, height: HEIGHT }));
    const { el } = this.app.format;
    caption.replaceChildren(
      `peak ${human.number(peak.ready)} ready at ${human.clockTime(peak.t)} `,
      el('button', { type: 'button', class: 'link recorded-peak', text: 'show that moment',
        onclick: () => { this.app.timeline.pause(); this.app.timeline.showMoment(peak.t + 0.001); } }));
  }
}

export function install(app) {
  const depth = new RecordedDepth(app);
  app.details.addSection((ele) => depth.section(ele));
}
