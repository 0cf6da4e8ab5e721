// The timeline under the graph: the recorded window with its incidents (each finding from
// appearing to clearing, each source outage) and the stretches not recorded. Dragging or
// clicking on it (or the arrow keys) shows that moment: the graph with its depths, the
// findings and Celery's task counts as they were, with "viewing 03:12:05, not live" and one
// click back to live. Play moves forward from the moment shown at 1×–60×, applying the
// recorded frames as the live page applies live ones. While a past moment is shown, live
// frames are not drawn (main.js); back to live asks the server for a fresh snapshot.
// The same strip moves through a file shown with --replay, whose "live" is its last moment.
// Every recorded string (names, messages) reaches the page as text only.
import * as human from '../humane.js';
import { ruleTitle, severityLabel, severityRank, sourceLabel } from '../vocabulary.js';
import {
  PlayClock, SPEEDS, bandsAt, dateTime, fractionOf, incidents, takeDue, taskCounts, timeAt, unrecorded, within,
} from '../timeline-logic.js';

const REFRESH_MS = 5000; // the window and the marks, while live
const SCRUB_WAIT_MS = 120; // while dragging, ask for the moment under the pointer this long after it stops
const TICK_MS = 100; // the play clock's step
const AHEAD_S = 60; // recorded seconds asked for at once while playing (at least)
const TASK_WINDOW_S = 10; // task counts: the seconds before the moment shown
const KEY_STEP_S = 10;
const END_SLACK_S = 1; // within this of the live end, playing has caught up with now

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(body?.error ?? `the server answered ${response.status}`);
    error.status = response.status;
    error.window = body?.window; // present (perhaps null) when the moment is outside the recording
    throw error;
  }
  return body;
}

const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined)
  .map(([k, v]) => [k, String(v)])).toString();

class Timeline {
  constructor(app) {
    this.app = app;
    this.el = app.format.el;
    this.info = null; // GET /api/recording
    this.window = null; // {from, to}: what the strip spans
    this.marks = [];
    this.spans = [];
    this.ticket = 0; // a newer moment asked for makes older answers stale
    this.version = null; // the version of the graph shown while in the past
    this.playing = null; // {clock, queue, fetchedTo, fetching}
    this.unavailable = null; // why there is no past to show, when there is none
    this.scrubTimer = null;
    this.dragging = false;
    this.bind();
  }

  get replay() { return this.app.mode === 'replay'; }
  get liveWord() { return this.replay ? 'the end' : 'live'; }

  bind() {
    const $ = (id) => document.getElementById(id);
    this.root = $('timeline');
    this.state = $('tl-state');
    this.liveButton = $('tl-live');
    this.playButton = $('tl-play');
    this.speed = $('tl-speed');
    this.track = $('tl-track');
    this.bands = $('tl-bands');
    this.cursor = $('tl-cursor');
    this.start = $('tl-start');
    this.end = $('tl-end');
    this.tasks = $('tl-tasks');
    this.hint = $('tl-hint');
    this.speed.replaceChildren(...SPEEDS.map((s) => this.el('option', { value: String(s), text: `${s}×` })));
    this.liveButton.textContent = this.replay ? 'Go to the end' : 'Back to live';
    this.liveButton.addEventListener('click', () => this.backToLive());
    this.playButton.addEventListener('click', () => (this.playing ? this.pause() : this.play()));
    this.speed.addEventListener('change', () => this.playing?.clock.setSpeed(Number(this.speed.value)));
    this.track.addEventListener('pointerdown', (e) => this.pointer(e, 'down'));
    this.track.addEventListener('pointermove', (e) => this.pointer(e, 'move'));
    this.track.addEventListener('pointerup', (e) => this.pointer(e, 'up'));
    this.track.addEventListener('pointercancel', () => { this.dragging = false; });
    this.track.addEventListener('keydown', (e) => this.key(e));
  }

  // ---- the window and its marks -----------------------------------------------------------------------

  async refresh() {
    try {
      this.info = await getJson('/api/recording');
    } catch (err) {
      console.warn('timeline: could not read the recording', err);
      return;
    }
    if (!this.info.window) { this.showUnavailable(); return; }
    this.root.classList.remove('tl-off');
    if (this.unavailable) { this.unavailable = null; this.showState(); }
    this.setWindow(this.info.window);
    const vhost = this.app.vhost;
    if (!vhost) return;
    try {
      const body = await getJson(`/api/timeline?${query({ vhost })}`);
      if (vhost !== this.app.vhost) return;
      this.marks = body.marks ?? [];
      this.spans = body.spans ?? [];
      this.setWindow(body.window ?? this.info.window);
    } catch (err) {
      console.warn('timeline: could not read the marks', err);
    }
  }

  setWindow(window) {
    this.window = { from: window.from, to: window.to };
    this.track.setAttribute('aria-valuemin', String(Math.floor(window.from)));
    this.track.setAttribute('aria-valuemax', String(Math.ceil(window.to)));
    this.start.textContent = human.clockTime(window.from);
    this.start.title = dateTime(window.from);
    this.end.textContent = this.replay ? human.clockTime(window.to) : 'now';
    this.end.title = dateTime(window.to);
    this.draw();
    this.hint.hidden = this.app.past !== null;
    this.playButton.disabled = this.app.past === null && !this.replay;
  }

  showUnavailable() {
    this.root.classList.add('tl-off');
    this.window = null;
    let why = 'Nothing recorded yet.';
    if (this.app.mode === 'definitions') why = 'A definitions file: it has no past to show.';
    else if (this.info?.mode === 'off') why = 'Not recording: no past to show (start the service with --record FILE, or without --no-record).';
    this.unavailable = why;
    this.bands.replaceChildren();
    this.showState();
  }

  /** The bands of incidents and of what was not recorded, and the cursor. */
  draw() {
    if (!this.window) return;
    const el = this.el;
    const place = (node, from, to) => {
      const left = fractionOf(from, this.window);
      node.style.left = `${(left * 100).toFixed(3)}%`;
      node.style.width = `max(3px, ${((fractionOf(to, this.window) - left) * 100).toFixed(3)}%)`;
      return node;
    };
    const parts = unrecorded(this.spans, this.window).map((gap) => place(el('div', {
      class: 'tl-gap', title: `Not recorded: ${dateTime(gap.from)} to ${dateTime(gap.to)}` }), gap.from, gap.to));
    this.incidents = incidents(this.marks, this.window);
    for (const band of this.incidents) {
      const severity = severityRank(band.severity) < 99 ? band.severity : 'info';
      parts.push(place(el('div', {
        class: `tl-band tl-${band.kind} sev-${severity}${band.open ? ' tl-open' : ''}`,
        dataset: { kind: band.kind, from: String(band.from), to: String(band.to), node: band.node ?? '', rule: band.rule ?? '' },
      }), band.from, band.to));
    }
    this.bands.replaceChildren(...parts);
    this.placeCursor();
  }

  bandTitle(band) {
    const when = `${human.clockTime(band.from)} → ${band.open ? 'still open' : human.clockTime(band.to)}`;
    if (band.kind === 'outage') {
      return `• ${sourceLabel(band.source)} ${band.state || 'down'} (${when}): ${this.app.format.visibleText(band.detail)}`;
    }
    const name = band.node.slice(band.node.indexOf(':') + 1);
    return `• ${severityLabel(band.severity)}: ${ruleTitle(band.rule)} on ${this.app.format.visibleName(name)} (${when})`;
  }

  placeCursor() {
    if (!this.window) return;
    const t = this.app.past ?? this.window.to;
    this.cursor.style.left = `${(fractionOf(t, this.window) * 100).toFixed(3)}%`;
    this.track.setAttribute('aria-valuenow', String(Math.round(t)));
    this.track.setAttribute('aria-valuetext', this.app.past === null ? this.liveWord : dateTime(t));
  }

  // ---- the state shown ------------------------------------------------------------------------------

  showState(note = '') {
    const past = this.app.past;
    const inPast = past !== null;
    document.body.classList.toggle('viewing-past', inPast);
    this.liveButton.hidden = !inPast;
    this.hint.hidden = inPast || !this.window;
    this.playButton.textContent = this.playing ? '❚❚ Pause' : '▶ Play';
    this.playButton.disabled = !this.window || (!inPast && !this.replay); // live already moves forward
    if (!inPast && this.unavailable) {
      this.state.className = 'tl-state muted';
      this.state.textContent = this.unavailable;
    } else if (!inPast) {
      this.state.className = 'tl-state tl-live';
      this.state.textContent = this.replay ? 'End of the recording' : 'Live';
      this.state.title = '';
    } else {
      this.state.className = 'tl-state tl-past';
      this.state.textContent = `Viewing ${human.clockTime(past)}${this.replay ? ' of the recording' : ', not live'}${note ? ` · ${note}` : ''}`;
      this.state.title = dateTime(past);
    }
    this.placeCursor();
  }

  // ---- moving in time -------------------------------------------------------------------------------

  /** The track's tooltip: the moment under the pointer and the incidents open then. */
  hover(event) {
    const box = this.track.getBoundingClientRect();
    const t = timeAt((event.clientX - box.left) / Math.max(1, box.width), this.window);
    const open = bandsAt(this.incidents ?? [], t);
    const lines = open.slice(0, 8).map((band) => this.bandTitle(band));
    if (open.length > 8) lines.push(`… and ${open.length - 8} more`);
    this.track.title = [`${dateTime(t)}: click to show this moment`, ...lines].join('\n');
  }

  pointer(event, phase) {
    if (!this.window || event.button > 0) return;
    if (phase === 'move' && !this.dragging) { this.hover(event); return; }
    if (phase === 'down') { this.dragging = true; this.track.setPointerCapture?.(event.pointerId); this.pause(); }
    if (!this.dragging) return;
    const box = this.track.getBoundingClientRect();
    const t = timeAt((event.clientX - box.left) / Math.max(1, box.width), this.window);
    this.app.past = t;
    this.showState('loading…');
    clearTimeout(this.scrubTimer);
    if (phase === 'up') { this.dragging = false; this.showMoment(t); }
    else this.scrubTimer = setTimeout(() => this.showMoment(t), SCRUB_WAIT_MS);
  }

  key(event) {
    if (!this.window) return;
    const now = this.app.past ?? this.window.to;
    const moves = { ArrowLeft: -KEY_STEP_S, ArrowRight: KEY_STEP_S, PageUp: -60, PageDown: 60 };
    if (event.key === 'End') { event.preventDefault(); this.backToLive(); return; }
    if (event.key === 'Home') { event.preventDefault(); this.pause(); this.showMoment(this.window.from); return; }
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.pause();
    const t = now + moves[event.key];
    if (t >= this.window.to && !this.replay) this.backToLive();
    else this.showMoment(within(t, this.window));
  }

  /** Show the moment t of the vhost shown: its graph, findings and task counts. */
  async showMoment(t) {
    const ticket = ++this.ticket;
    const vhost = this.app.vhost;
    clearTimeout(this.scrubTimer);
    this.app.past = t;
    this.showState('loading…');
    this.shareChanged();
    try {
      const [topology, diagnostics, frames] = await Promise.all([
        getJson(`/api/topology?${query({ vhost, at: t })}`),
        getJson(`/api/diagnostics?${query({ vhost, at: t })}`),
        getJson(`/api/frames?${query({ vhost, from: Math.max(0, t - TASK_WINDOW_S), to: t, limit: 5000 })}`).catch(() => null),
      ]);
      if (ticket !== this.ticket || vhost !== this.app.vhost) return false;
      this.version = topology.version;
      this.app.showSnapshot(topology);
      this.app.findings?.receive({ vhost, findings: diagnostics.findings ?? [] });
      this.showTasks(frames);
      this.showState();
      this.app.emit('moment', t);
      return true;
    } catch (err) {
      if (ticket !== this.ticket) return false;
      if (err.status === 404 && err.window === undefined) { this.showAbsent(t, vhost); return true; }
      // Nothing to show for that moment: back to what is known, saying why.
      this.backToLive();
      this.app.status.showBanner(`Could not show ${dateTime(t)}: ${err.message}`, 'warn');
      return false;
    }
  }

  /** A recorded moment when the vhost was not on the graph (not yet read, or deleted): nothing drawn. */
  showAbsent(t, vhost) {
    this.version = null;
    this.app.showSnapshot({ vhost, version: null, nodes: [], edges: [], broker: {} });
    this.app.findings?.receive({ vhost, findings: [] }); // a whole list (empty) replaces
    this.showTasks(null);
    this.showState(`${this.app.format.visibleName(vhost)} was not on the graph then`);
    this.app.emit('moment', t);
  }

  showTasks(body) {
    const activity = (body?.frames ?? []).filter((f) => f.event === 'activity').map((f) => f.data);
    const workers = this.app.graph.cy.nodes().some((n) => n.data('kind') === 'worker');
    // Not read (the request failed), or no Celery here: nothing, never a made-up zero.
    if (!body || (!activity.length && !workers)) { this.tasks.textContent = ''; this.tasks.hidden = true; return; }
    const c = taskCounts(activity);
    const parts = [`${human.number(c.sent)} sent`, `${human.number(c.succeeded)} succeeded`];
    if (c.failed) parts.push(`${human.number(c.failed)} failed`);
    if (c.retried) parts.push(`${human.number(c.retried)} retried`);
    this.tasks.hidden = false;
    this.tasks.textContent = `Tasks, ${TASK_WINDOW_S} s before: ${parts.join(' · ')}`;
    this.tasks.title = `Celery tasks in the ${TASK_WINDOW_S} seconds before the moment shown: ${parts.join(', ')}`;
    for (const frame of activity.slice(-3)) this.app.celery?.activity.onFrame(frame);
  }

  backToLive() {
    this.pause();
    this.ticket += 1;
    clearTimeout(this.scrubTimer);
    if (this.app.past === null) return;
    this.app.past = null;
    this.version = null;
    this.tasks.hidden = true;
    this.showState();
    this.shareChanged();
    if (this.app.vhost) this.app.socket.emit('resync', { vhost: this.app.vhost });
    this.app.emit('moment', null);
    this.refresh();
  }

  // ---- playing ------------------------------------------------------------------------------------

  async play() {
    if (!this.window) return;
    if (this.app.past === null) {
      if (!this.replay) return; // live is already moving forward
      if (!(await this.showMoment(this.window.from))) return;
    }
    const start = this.app.past;
    this.playing = { clock: new PlayClock(start, Number(this.speed.value)), queue: [], fetchedTo: start, fetching: false, more: true };
    this.showState();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.fetchAhead();
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.playing) { this.playing = null; this.showState(); }
  }

  async fetchAhead() {
    const p = this.playing;
    if (!p || p.fetching || !p.more) return;
    p.fetching = true;
    const to = p.fetchedTo + Math.max(AHEAD_S, p.clock.speed * 20);
    try {
      const body = await getJson(`/api/frames?${query({ vhost: this.app.vhost, from: p.fetchedTo, to, limit: 2000 })}`);
      if (p !== this.playing) return;
      p.queue.push(...(body.frames ?? []));
      p.fetchedTo = body.next ?? to;
      p.more = body.next !== null || to < (body.window?.to ?? to);
    } catch (err) {
      console.warn('timeline: could not read frames', err);
      p.more = false;
    } finally {
      p.fetching = false;
    }
  }

  tick() {
    const p = this.playing;
    if (!p || !this.window) return;
    if (p.more && p.fetchedTo - p.clock.t < Math.max(AHEAD_S, p.clock.speed * 20) / 2) this.fetchAhead();
    // Not past the frames held: a slow answer holds the picture back, it never skips frames.
    const t = p.more ? Math.min(p.clock.t, p.fetchedTo) : p.clock.t;
    for (const frame of takeDue(p.queue, t)) {
      if (!this.apply(frame)) { this.pause(); this.showMoment(frame.t).then((ok) => { if (ok) this.play(); }); return; }
    }
    const end = this.replay ? this.window.to : Math.max(this.window.to, Date.now() / 1000 - END_SLACK_S);
    if (t >= end) { this.backToLive(); return; } // caught up: live (in replay, the end)
    const shown = Math.floor(this.app.past ?? 0);
    this.app.past = t;
    if (Math.floor(t) !== shown) { this.showState(); this.shareChanged(); }
    else this.placeCursor();
  }

  /** One recorded frame, as the live page applies one; false when a patch does not follow on. */
  apply(frame) {
    const data = frame.data;
    if (!data || (data.vhost !== undefined && data.vhost !== this.app.vhost)) return true;
    if (frame.event === 'snapshot') { this.version = data.version; this.app.showSnapshot(data); }
    else if (frame.event === 'patch') {
      if (data.to <= this.version) return true;
      if (data.from !== this.version) return false;
      this.version = data.to;
      this.app.showPatch(data);
    } else if (frame.event === 'findings') this.app.findings?.receive(data); // a diff, as recorded
    else if (frame.event === 'activity') this.app.celery?.activity.onFrame(data);
    return true;
  }

  shareChanged() { this.app.emit('view-changed'); }
}

export function install(app) {
  const timeline = new Timeline(app);
  app.timeline = timeline;
  timeline.showState();
  timeline.refresh();
  setInterval(() => { if (app.past === null && !document.hidden) timeline.refresh(); }, REFRESH_MS);
  app.on('vhost', () => {
    timeline.refresh();
    if (app.past !== null) { timeline.pause(); timeline.showMoment(app.past); }
  });
}
