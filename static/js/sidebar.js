// The sidebar's size: dragged wider or narrower by its handle (or with the arrow keys on it),
// collapsed to a strip and expanded again, widened over most of the page for the Tasks table.
// The choice is remembered in localStorage. The size rules are pure functions, tested in Node.

export const STORAGE_KEY = 'visualiser.sidebar';
export const MIN_WIDTH = 300;
export const DEFAULT_WIDTH = 400;
const MIN_GRAPH = 240; // the graph keeps at least this much of the window
const WIDE_SHARE = 0.72; // the wide view takes this share of the window
const KEY_STEP = 24;

/** A width the window can hold: at least MIN_WIDTH, leaving the graph MIN_GRAPH. */
export function clampWidth(width, viewport) {
  const most = Math.max(MIN_WIDTH, viewport - MIN_GRAPH);
  const wanted = Number.isFinite(width) ? width : DEFAULT_WIDTH;
  return Math.round(Math.min(most, Math.max(MIN_WIDTH, wanted)));
}

/** The wide view's width for a window. */
export function wideWidth(viewport) {
  return clampWidth(viewport * WIDE_SHARE, viewport);
}

/** What was remembered, or the defaults; anything unreadable is ignored. */
export function readPrefs(storage) {
  const fallback = { width: DEFAULT_WIDTH, collapsed: false, wide: false };
  try {
    const saved = JSON.parse(storage?.getItem(STORAGE_KEY) ?? 'null');
    if (!saved || typeof saved !== 'object') return fallback;
    return {
      width: Number.isFinite(saved.width) ? saved.width : DEFAULT_WIDTH,
      collapsed: saved.collapsed === true,
      wide: saved.wide === true,
    };
  } catch {
    return fallback;
  }
}

export function writePrefs(storage, prefs) {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify({ width: prefs.width, collapsed: prefs.collapsed, wide: prefs.wide }));
  } catch {
    // Storage full or refused (private mode): the size still applies until the page reloads.
  }
}

export class Sidebar {
  /** The page's sidebar (templates/index.html): its drag handle, Wide and hide/show buttons. */
  constructor({ aside, handle, wide, toggle }, { storage = globalThis.localStorage, win = globalThis.window } = {}) {
    Object.assign(this, { aside, handle, wide, toggle, storage, win });
    this.prefs = readPrefs(storage);
    this.listeners = [];
    toggle.addEventListener('click', () => this.setCollapsed(!this.prefs.collapsed));
    wide.addEventListener('click', () => this.setWide(!this.prefs.wide));
    handle.addEventListener('keydown', (e) => this._key(e));
    handle.addEventListener('dblclick', () => this.setCollapsed(true));
    this._wireDrag();
    win?.addEventListener('resize', () => this.apply());
    this.apply();
  }

  viewport() { return this.win?.innerWidth ?? 1280; }

  /** The width shown: the wide view's, or the chosen one, kept inside the window. */
  width() {
    return this.prefs.wide ? wideWidth(this.viewport()) : clampWidth(this.prefs.width, this.viewport());
  }

  apply() {
    const { collapsed, wide } = this.prefs;
    this.aside.classList.toggle('collapsed', collapsed);
    this.aside.classList.toggle('wide', wide && !collapsed);
    this.aside.style.width = collapsed ? '' : `${this.width()}px`;
    this.handle.hidden = collapsed;
    this.handle.setAttribute('aria-valuenow', String(this.width()));
    this.handle.setAttribute('aria-valuemin', String(MIN_WIDTH));
    this.handle.setAttribute('aria-valuemax', String(clampWidth(Infinity, this.viewport())));
    this.toggle.textContent = collapsed ? '‹' : '›';
    this.toggle.title = collapsed ? 'Show the side panel' : 'Hide the side panel (the graph takes the whole width)';
    this.toggle.setAttribute('aria-label', collapsed ? 'Show the side panel' : 'Hide the side panel');
    this.toggle.setAttribute('aria-expanded', String(!collapsed));
    this.wide.textContent = wide ? 'Narrow' : 'Wide';
    this.wide.title = wide ? 'Back to the width you chose' : 'Widen the side panel over most of the page (for the Tasks table)';
    this.wide.setAttribute('aria-pressed', String(wide));
    this.listeners.forEach((fn) => fn(this.prefs));
  }

  /** fn(prefs) after each change. */
  onChange(fn) { this.listeners.push(fn); }

  setWidth(width) {
    this.prefs = { ...this.prefs, width: clampWidth(width, this.viewport()), wide: false, collapsed: false };
    writePrefs(this.storage, this.prefs);
    this.apply();
  }

  setCollapsed(collapsed) {
    this.prefs = { ...this.prefs, collapsed };
    writePrefs(this.storage, this.prefs);
    this.apply();
  }

  setWide(wide) {
    this.prefs = { ...this.prefs, wide, collapsed: false };
    writePrefs(this.storage, this.prefs);
    this.apply();
  }

  _wireDrag() {
    let startX = 0;
    let startWidth = 0;
    let dragged = null;
    const move = (e) => {
      // The handle is on the sidebar's left edge: dragging it left widens the sidebar.
      dragged = clampWidth(startWidth + (startX - e.clientX), this.viewport());
      this.aside.style.width = `${dragged}px`;
    };
    const stop = (e) => {
      if (this.handle.hasPointerCapture?.(e.pointerId)) this.handle.releasePointerCapture(e.pointerId);
      this.handle.removeEventListener('pointermove', move);
      this.handle.removeEventListener('pointerup', stop);
      this.handle.removeEventListener('pointercancel', stop);
      document.body.classList.remove('resizing');
      if (dragged !== null) this.setWidth(dragged);
    };
    this.handle.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      e.preventDefault();
      startX = e.clientX;
      startWidth = this.aside.getBoundingClientRect().width;
      dragged = null;
      this.handle.setPointerCapture?.(e.pointerId);
      document.body.classList.add('resizing');
      this.handle.addEventListener('pointermove', move);
      this.handle.addEventListener('pointerup', stop);
      this.handle.addEventListener('pointercancel', stop);
    });
  }

  _key(e) {
    const width = this.aside.getBoundingClientRect().width;
    if (e.key === 'ArrowLeft') this.setWidth(width + KEY_STEP);
    else if (e.key === 'ArrowRight') this.setWidth(width - KEY_STEP);
    else return;
    e.preventDefault();
  }
}

/** The page's sidebar, from its markup. */
export function setupSidebar() {
  const $ = (id) => document.getElementById(id);
  return new Sidebar({ aside: $('sidebar'), handle: $('sidebar-handle'), wide: $('sidebar-wide'), toggle: $('sidebar-toggle') });
}
