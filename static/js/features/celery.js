// Celery on the graph: worker nodes (online/offline), live task flow on the edges
// exchange → queue → worker, and the Tasks tab (tasks-panel.js). Activity arrives as throttled
// `activity` frames; slow edges animate individual tasks, busy ones show an aggregate rate.
// Every broker- or worker-supplied string reaches the page as text only (format.el).
import { TaskPanel, taskDetailsSection } from './tasks-panel.js';

const ACTIVE_MS = 2500; // an edge stays lit this long after its last task
const FLASH_MS = 2000; // a worker glows red/amber this long after a failure/retry
const ANIMATE_BELOW = 4; // tasks a second on an edge: below this, each task is drawn moving
const MAX_DOTS = 40;
const DOT_MS = 700;

// Worker nodes, their edges and their labels are drawn by graph.js (graph-style.js);
// what is here is the task activity over them.
function installStyles(app) {
  const f = app.format;
  app.graph.cy.style()
    .selector('edge.celery-active').style({
      'label': (ele) => f.rate(ele.data('celery_rate') ?? 0), 'line-color': '#38bdf8', 'target-arrow-color': '#38bdf8',
      'width': (ele) => 1.5 + Math.min(7, 2.2 * Math.log10(1 + (ele.data('celery_rate') ?? 0))), 'color': '#e0f2fe',
    })
    .selector('edge.celery-failing').style({ 'line-color': '#ef4444', 'target-arrow-color': '#ef4444' })
    .selector('node.celery-failed').style({ 'underlay-color': '#ef4444', 'underlay-opacity': 0.55, 'underlay-padding': 9 })
    .selector('node.celery-retried').style({ 'underlay-color': '#f59e0b', 'underlay-opacity': 0.5, 'underlay-padding': 8 })
    .selector('node.celery-dot').style({
      'width': 11, 'height': 11, 'shape': 'ellipse', 'background-color': '#38bdf8', 'label': '', 'z-index': 30,
      'border-width': 0, 'events': 'no',
    })
    .selector('node.celery-dot[state = "failed"]').style({ 'background-color': '#ef4444' })
    .selector('node.celery-dot[state = "retried"]').style({ 'background-color': '#f59e0b' })
    .update();
}

/** Lights edges and workers from activity frames and animates sampled tasks when slow. */
class Activity {
  constructor(app) {
    this.app = app;
    this.graph = app.graph;
    this.lit = new Map(); // element id -> time it was last active
    this.flashes = new Map(); // node id -> {cls, until}
    this.dots = 0;
    this.seq = 0;
    this.lastFrame = null;
    setInterval(() => this.sweep(), 500);
  }

  onFrame(frame) {
    if (!frame || frame.vhost !== this.app.vhost) return;
    this.lastFrame = frame;
    const now = Date.now();
    for (const [id, fig] of Object.entries(frame.edges ?? {})) {
      const edge = this.graph.element(id);
      if (!edge) continue;
      edge.data('celery_rate', fig.rate);
      edge.addClass('celery-active');
      edge.toggleClass('celery-failing', Boolean(fig.states?.failed));
      this.lit.set(id, now);
    }
    for (const [id, fig] of Object.entries(frame.nodes ?? {})) {
      if (fig.states?.failed) this.flash(id, 'celery-failed', now);
      else if (fig.states?.retried) this.flash(id, 'celery-retried', now);
    }
    for (const sample of frame.samples ?? []) {
      for (const id of sample.path ?? []) {
        const rate = frame.edges?.[id]?.rate ?? 0;
        if (rate < ANIMATE_BELOW) this.animate(id, sample.state);
      }
    }
  }

  flash(id, cls, now) {
    const node = this.graph.element(id);
    if (!node) return;
    node.addClass(cls);
    this.flashes.set(id, { cls, until: now + FLASH_MS });
  }

  animate(edgeId, state) {
    const edge = this.graph.element(edgeId);
    if (!edge || edge.hasClass('hidden') || this.dots >= MAX_DOTS) return;
    const from = edge.source().position();
    const to = edge.target().position();
    this.seq += 1;
    this.dots += 1;
    const dot = this.graph.cy.add({
      group: 'nodes', classes: 'celery-dot', position: { x: from.x, y: from.y },
      data: { id: `celery-dot:${this.seq}`, kind: 'celery-dot', state, placed: true },
    });
    dot.ungrabify();
    dot.unselectify();
    dot.animate({ position: { x: to.x, y: to.y } }, {
      duration: DOT_MS, complete: () => { dot.remove(); this.dots -= 1; },
    });
  }

  sweep() {
    const now = Date.now();
    for (const [id, at] of this.lit) {
      if (now - at < ACTIVE_MS) continue;
      const edge = this.graph.element(id);
      if (edge) { edge.removeClass('celery-active celery-failing'); edge.data('celery_rate', 0); }
      this.lit.delete(id);
    }
    for (const [id, flash] of this.flashes) {
      if (now < flash.until) continue;
      this.graph.element(id)?.removeClass(flash.cls);
      this.flashes.delete(id);
    }
  }
}

export function install(app) {
  installStyles(app);
  const activity = new Activity(app);
  const panel = new TaskPanel(app);
  app.details.addSection((ele) => taskDetailsSection(panel, ele));
  app.socket.on('activity', (frame) => { if (app.past === null) activity.onFrame(frame); }); // the past plays its own
  // The events source's health is in the banner with every other source's (panels.js StatusBar).
  app.celery = { activity, panel }; // for the browser tests
}
