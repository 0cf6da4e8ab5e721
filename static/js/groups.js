// Name groups on a big vhost: the server marks each queue and exchange of a group (and the
// consumers of a grouped queue) with `group` (the group node's id) and `group_name`
// (visualiser/model/groups.py). Here, on plain data (no Cytoscape), a collapsed group is
// folded into one node carrying its member count, total depth and unknowns, and the edges
// of its members into one edge per neighbour; an expanded group is drawn member by member.
//
// The folder keeps the whole graph as the server sent it and turns each snapshot and patch
// into what is drawn. A patch costs in proportion to what it carries: a member's depth
// change is one change of its group's totals, never a rescan.

const DEPTH_FIELDS = ['messages_ready', 'messages_unacknowledged'];

/** The id of the one drawn edge that stands for a kind of edge between two drawn ends. */
export const foldedEdgeId = (kind, source, target) => JSON.stringify(['folded', kind, source, target]);

function emptyPatch() {
  return { add: { nodes: [], edges: [] }, remove: { nodes: [], edges: [] }, change: { nodes: [], edges: [] } };
}

class Group {
  constructor(id, memberKind, name) {
    this.id = id;
    this.memberKind = memberKind; // queue | exchange
    this.name = name;
    this.members = new Set(); // ids, consumers included
    this.count = 0; // members of memberKind
    this.consumers = 0;
    this.sums = Object.fromEntries(DEPTH_FIELDS.map((f) => [f, 0]));
    this.unknown = Object.fromEntries(DEPTH_FIELDS.map((f) => [f, 0])); // members whose figure is unknown
  }

  /** Add (sign 1) or take away (sign -1) a member's share of the totals. */
  tally(node, sign) {
    if (node.kind === 'consumer') { this.consumers += sign; return; }
    if (node.kind !== this.memberKind) return;
    this.count += sign;
    if (node.kind !== 'queue') return;
    for (const field of DEPTH_FIELDS) {
      const value = node[field];
      if (typeof value === 'number') this.sums[field] += sign * value;
      else this.unknown[field] += sign;
    }
  }

  /** What is drawn for it: a node whose figures are totals (null where no member's is known). */
  data() {
    const total = (field) => (this.unknown[field] === this.count && this.count > 0 ? null : this.sums[field]);
    return {
      id: this.id,
      kind: 'group',
      member_kind: this.memberKind,
      name: this.name,
      label: `${this.name}*`,
      count: this.count,
      consumers: this.consumers,
      messages_ready: this.memberKind === 'queue' ? total('messages_ready') : undefined,
      messages_unacknowledged: this.memberKind === 'queue' ? total('messages_unacknowledged') : undefined,
      unknown_depths: this.memberKind === 'queue' ? this.unknown.messages_ready : 0,
    };
  }
}

export class GroupFolder {
  constructor() {
    this.nodes = new Map(); // id -> data, every node the server sent
    this.edges = new Map(); // id -> data, every edge the server sent
    this.groups = new Map(); // group id -> Group
    this.expanded = new Set(); // group ids drawn member by member (kept across snapshots)
    this.folds = new Map(); // folded edge id -> { data, members: Set of edge ids }
    this.drawnEdgeOf = new Map(); // edge id -> the folded edge id it is drawn as
  }

  get active() { return this.groups.size > 0; }

  /** The group a node belongs to, if any. */
  groupOf(id) { return this.nodes.get(id)?.group ?? null; }

  /** Whether a node is folded into its (collapsed) group. */
  isFolded(id) {
    const group = this.groupOf(id);
    return Boolean(group && this.groups.has(group) && !this.expanded.has(group));
  }

  /** The id drawn for a node: its group's when it is folded. */
  drawnId(id) { return this.isFolded(id) ? this.groupOf(id) : id; }

  /** The members of a group, as the server sent them. */
  members(groupId) {
    return [...(this.groups.get(groupId)?.members ?? [])].map((id) => this.nodes.get(id)).filter(Boolean);
  }

  // ---- snapshots ---------------------------------------------------------------------------------------

  /** Everything replaced: what to draw for it ({nodes, edges}). */
  snapshot(msg) {
    this.nodes = new Map(msg.nodes.map((n) => [n.id, n]));
    this.edges = new Map(msg.edges.map((e) => [e.id, e]));
    this.groups = new Map();
    for (const node of msg.nodes) this._join(node);
    for (const id of [...this.expanded]) if (!this.groups.has(id)) this.expanded.delete(id);
    return this.drawn();
  }

  /** The whole graph as drawn now. */
  drawn() {
    this.folds = new Map();
    this.drawnEdgeOf = new Map();
    const nodes = [];
    for (const node of this.nodes.values()) if (!this.isFolded(node.id)) nodes.push(node);
    for (const group of this.groups.values()) if (!this.expanded.has(group.id)) nodes.push(group.data());
    const edges = [];
    for (const edge of this.edges.values()) {
      const shown = this._fold(edge);
      if (shown === edge) edges.push(edge);
    }
    for (const fold of this.folds.values()) edges.push(fold.data);
    return { nodes, edges };
  }

  _join(node) {
    if (!node.group) return null;
    let group = this.groups.get(node.group);
    if (!group) {
      const kind = node.kind === 'consumer' ? 'queue' : node.kind;
      group = new Group(node.group, kind, node.group_name ?? '');
      this.groups.set(node.group, group);
    }
    group.members.add(node.id);
    group.tally(node, 1);
    return group;
  }

  _leave(node) {
    const group = node.group ? this.groups.get(node.group) : null;
    if (!group) return null;
    group.members.delete(node.id);
    group.tally(node, -1);
    return group;
  }

  /** How an edge is drawn: itself, null (inside one folded group), or a folded edge it joins. */
  _fold(edge) {
    const source = this.drawnId(edge.source);
    const target = this.drawnId(edge.target);
    if (source === edge.source && target === edge.target) return edge;
    if (source === target) return null;
    const id = foldedEdgeId(edge.kind, source, target);
    let fold = this.folds.get(id);
    if (!fold) {
      fold = { data: { id, kind: edge.kind, source, target, folded: 0 }, members: new Set() };
      this.folds.set(id, fold);
    }
    fold.members.add(edge.id);
    fold.data.folded = fold.members.size;
    this.drawnEdgeOf.set(edge.id, id);
    return fold.data;
  }

  /** An edge no longer drawn as part of its folded edge; whether that folded edge is now gone. */
  _unfold(edgeId) {
    const id = this.drawnEdgeOf.get(edgeId);
    if (id === undefined) return null;
    this.drawnEdgeOf.delete(edgeId);
    const fold = this.folds.get(id);
    fold.members.delete(edgeId);
    fold.data.folded = fold.members.size;
    if (fold.members.size === 0) this.folds.delete(id);
    return fold;
  }

  // ---- patches ---------------------------------------------------------------------------------------

  /** A server patch, as changes to what is drawn; { rebuild: true } when groups themselves changed. */
  patch(msg) {
    if (!this.active && ![...msg.add.nodes, ...msg.change.nodes].some((n) => 'group' in n)) return this._record(msg);
    if (msg.change.nodes.some((c) => 'group' in c && c.group !== this.nodes.get(c.id)?.group)) return this._rebuild(msg);
    const out = { ...emptyPatch(), vhost: msg.vhost, from: msg.from, to: msg.to, routing: msg.routing };
    const touched = new Set(); // groups whose drawn node changes
    const foldsTouched = new Set();
    const foldsBefore = new Set(this.folds.keys());
    for (const id of msg.remove.edges) this._removeEdge(id, out, foldsTouched);
    for (const id of msg.remove.nodes) this._removeNode(id, out, touched);
    const groupsBefore = new Set(this.groups.keys());
    for (const node of msg.add.nodes) this._addNode(node, out, touched);
    for (const edge of msg.add.edges) this._addEdge(edge, out, foldsTouched);
    for (const change of msg.change.nodes) this._changeNode(change, out, touched);
    for (const change of msg.change.edges) this._changeEdge(change, out);
    for (const id of touched) {
      const group = this.groups.get(id);
      if (group && group.members.size === 0) {
        this.groups.delete(id);
        this.expanded.delete(id);
        if (groupsBefore.has(id)) out.remove.nodes.push(id);
      } else if (group && !this.expanded.has(id)) {
        (groupsBefore.has(id) ? out.change.nodes : out.add.nodes).push(group.data());
      }
    }
    for (const id of foldsTouched) {
      const fold = this.folds.get(id);
      if (!fold) { if (foldsBefore.has(id)) out.remove.edges.push(id); continue; }
      (foldsBefore.has(id) ? out.change.edges : out.add.edges).push(foldsBefore.has(id) ? { id, folded: fold.data.folded } : fold.data);
    }
    return out;
  }

  /** No groups: the patch is drawn as it is, and only remembered here (for when groups form). */
  _record(msg) {
    for (const id of msg.remove.edges) this.edges.delete(id);
    for (const id of msg.remove.nodes) this.nodes.delete(id);
    for (const n of msg.add.nodes) this.nodes.set(n.id, n);
    for (const e of msg.add.edges) this.edges.set(e.id, e);
    for (const c of msg.change.nodes) { const n = this.nodes.get(c.id); if (n) this.nodes.set(c.id, { ...n, ...c }); }
    for (const c of msg.change.edges) { const e = this.edges.get(c.id); if (e) this.edges.set(c.id, { ...e, ...c }); }
    return msg;
  }

  _rebuild(msg) {
    this._record(msg);
    this.snapshot({ nodes: [...this.nodes.values()], edges: [...this.edges.values()] });
    return { rebuild: true };
  }

  _removeEdge(id, out, foldsTouched) {
    if (!this.edges.delete(id)) { out.remove.edges.push(id); return; }
    const fold = this.drawnEdgeOf.get(id);
    if (fold !== undefined) { this._unfold(id); foldsTouched.add(fold); return; }
    out.remove.edges.push(id); // drawn as itself (or inside a folded group, where removing is harmless)
  }

  _removeNode(id, out, touched) {
    const node = this.nodes.get(id);
    if (!node) { out.remove.nodes.push(id); return; }
    const folded = this.isFolded(id);
    this.nodes.delete(id);
    const group = this._leave(node);
    if (group) touched.add(group.id);
    if (!folded) out.remove.nodes.push(id);
  }

  _addNode(node, out, touched) {
    this.nodes.set(node.id, node);
    const group = this._join(node);
    if (group) touched.add(group.id);
    if (!this.isFolded(node.id)) out.add.nodes.push(node);
  }

  _addEdge(edge, out, foldsTouched) {
    this.edges.set(edge.id, edge);
    const shown = this._fold(edge);
    if (shown === edge) out.add.edges.push(edge);
    else if (shown) foldsTouched.add(shown.id);
  }

  _changeNode(change, out, touched) {
    const node = this.nodes.get(change.id);
    if (!node) { out.change.nodes.push(change); return; }
    const updated = { ...node, ...change };
    const group = node.group ? this.groups.get(node.group) : null;
    if (group) {
      group.tally(node, -1);
      group.tally(updated, 1);
      if (DEPTH_FIELDS.some((f) => f in change)) touched.add(group.id);
    }
    this.nodes.set(change.id, updated);
    if (!this.isFolded(change.id)) out.change.nodes.push(change);
  }

  _changeEdge(change, out) {
    const edge = this.edges.get(change.id);
    if (edge) this.edges.set(change.id, { ...edge, ...change });
    if (!this.drawnEdgeOf.has(change.id)) out.change.edges.push(change);
  }

  // ---- expanding and collapsing --------------------------------------------------------------------------

  /** Draw a group member by member: the drawn patch that does it (null: nothing to do). */
  expand(groupId) {
    if (!this.groups.has(groupId) || this.expanded.has(groupId)) return null;
    return this._toggle(() => this.expanded.add(groupId));
  }

  /** Fold an expanded group back into one node. */
  collapse(groupId) {
    if (!this.expanded.has(groupId)) return null;
    return this._toggle(() => this.expanded.delete(groupId));
  }

  collapseAll() {
    if (!this.expanded.size) return null;
    return this._toggle(() => this.expanded.clear());
  }

  /** The drawn patch between the graph as drawn before and after a change of what is expanded. */
  _toggle(change) {
    const before = this.drawn();
    change();
    const after = this.drawn();
    const out = emptyPatch();
    const ids = (list) => new Set(list.map((x) => x.id));
    const [nodesBefore, nodesAfter, edgesBefore, edgesAfter] = [ids(before.nodes), ids(after.nodes), ids(before.edges), ids(after.edges)];
    out.remove.edges = [...edgesBefore].filter((id) => !edgesAfter.has(id));
    out.remove.nodes = [...nodesBefore].filter((id) => !nodesAfter.has(id));
    out.add.nodes = after.nodes.filter((n) => !nodesBefore.has(n.id));
    out.add.edges = after.edges.filter((e) => !edgesBefore.has(e.id));
    out.change.edges = after.edges.filter((e) => e.folded && edgesBefore.has(e.id)).map((e) => ({ id: e.id, folded: e.folded }));
    return out;
  }

  /** Ids of members of collapsed groups whose name contains the text (lower case). */
  foldedMatching(needle) {
    const found = [];
    for (const group of this.groups.values()) {
      if (this.expanded.has(group.id)) continue;
      for (const id of group.members) {
        const node = this.nodes.get(id);
        if (node.kind !== 'consumer' && String(node.name).toLowerCase().includes(needle)) found.push(id);
      }
    }
    return found;
  }
}
