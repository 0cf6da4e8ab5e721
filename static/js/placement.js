// Where edge labels go, and which of them there is room for. Plain geometry in model
// coordinates (labels scale with the zoom, so what collides at one zoom collides at all).
// A binding's key sits near the queue it leads to; a label that would cover a node or
// another label is not drawn (the edge's tooltip still says it). Work is proportional to
// what changed: a spatial grid answers "what is near this box" without scanning the graph.

/** Boxes are {x1, y1, x2, y2}. */
export function intersects(a, b, margin = 0) {
  return a.x1 < b.x2 + margin && b.x1 < a.x2 + margin && a.y1 < b.y2 + margin && b.y1 < a.y2 + margin;
}

/** A uniform grid of boxes by id. */
export class BoxIndex {
  constructor(cell = 96) { this.cell = cell; this.boxes = new Map(); this.cells = new Map(); }

  *_keys(box) {
    const c = this.cell;
    for (let i = Math.floor(box.x1 / c); i <= Math.floor(box.x2 / c); i++) {
      for (let j = Math.floor(box.y1 / c); j <= Math.floor(box.y2 / c); j++) yield `${i},${j}`;
    }
  }

  set(id, box) {
    this.delete(id);
    this.boxes.set(id, box);
    for (const key of this._keys(box)) {
      if (!this.cells.has(key)) this.cells.set(key, new Set());
      this.cells.get(key).add(id);
    }
  }

  delete(id) {
    const box = this.boxes.get(id);
    if (!box) return;
    for (const key of this._keys(box)) {
      const cell = this.cells.get(key);
      cell?.delete(id);
      if (cell && !cell.size) this.cells.delete(key);
    }
    this.boxes.delete(id);
  }

  get(id) { return this.boxes.get(id); }
  has(id) { return this.boxes.has(id); }
  get size() { return this.boxes.size; }

  /** Ids whose boxes intersect this one (excluding `except`). */
  near(box, except = null, margin = 0) {
    const found = new Set();
    const grown = { x1: box.x1 - margin, y1: box.y1 - margin, x2: box.x2 + margin, y2: box.y2 + margin };
    for (const key of this._keys(grown)) {
      for (const id of this.cells.get(key) ?? []) {
        if (id !== except && !found.has(id) && intersects(this.boxes.get(id), box, margin)) found.add(id);
      }
    }
    return [...found];
  }
}

/** The box of a label centred at distance t from the target end of an edge, and t itself:
 * the nearest to the target that clears the target's box (by `clearance`), at most mid-way. */
export function edgeLabelBox(from, to, width, height, target = null, clearance = 6) {
  const dx = from.x - to.x;
  const dy = from.y - to.y;
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  const at = (t) => {
    const cx = to.x + ux * t;
    const cy = to.y + uy * t;
    return { x1: cx - width / 2, y1: cy - height / 2, x2: cx + width / 2, y2: cy + height / 2 };
  };
  const limit = Math.max(14, length / 2);
  let t = 14;
  while (target && t < limit && intersects(at(t), target, clearance)) t += 3;
  t = Math.min(t, limit);
  return { offset: t, box: at(t) };
}

/** Which edge labels are drawn: those that cover neither a node (obstacle) nor a label drawn
 * before them. Labels that did not fit are kept to be tried again when room is freed. */
export class LabelPlanner {
  constructor(margin = 3) {
    this.margin = margin;
    this.obstacles = new BoxIndex();
    this.shown = new BoxIndex();
    this.crowded = new BoxIndex();
  }

  fits(box, except = null) {
    return !this.obstacles.near(box, except, this.margin).length && !this.shown.near(box, except, this.margin).length;
  }

  /** Try a label; returns true when it is drawn. */
  place(id, box) {
    this.shown.delete(id);
    this.crowded.delete(id);
    if (this.fits(box, id)) { this.shown.set(id, box); return true; }
    this.crowded.set(id, box);
    return false;
  }

  /** A label that is gone: returns ids of labels that now fit and are to be drawn. */
  removeLabel(id) {
    const box = this.shown.get(id) ?? this.crowded.get(id);
    this.shown.delete(id);
    this.crowded.delete(id);
    return box ? this._retry(box) : [];
  }

  /** A node's box (new or moved): returns {hide: ids of labels it now covers}. */
  setObstacle(id, box) {
    const old = this.obstacles.get(id);
    this.obstacles.set(id, box);
    const hide = this.shown.near(box, null, this.margin);
    for (const label of hide) { this.crowded.set(label, this.shown.get(label)); this.shown.delete(label); }
    const show = old ? this._retry(old) : [];
    return { hide, show };
  }

  /** A node that is gone: returns ids of labels that now fit. */
  removeObstacle(id) {
    const box = this.obstacles.get(id);
    this.obstacles.delete(id);
    return box ? this._retry(box) : [];
  }

  _retry(freed) {
    const shown = [];
    for (const id of this.crowded.near(freed, null, this.margin)) {
      const box = this.crowded.get(id);
      if (this.fits(box, id)) { this.crowded.delete(id); this.shown.set(id, box); shown.push(id); }
    }
    return shown;
  }

  clear() { this.obstacles = new BoxIndex(); this.shown = new BoxIndex(); this.crowded = new BoxIndex(); }
}
