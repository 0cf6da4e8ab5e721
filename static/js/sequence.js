// Snapshot/patch sequencing, with no socket in sight: what the page does with each frame.
// A snapshot sets the version; a patch applies only when its `from` is our version; a patch
// already contained in our snapshot is dropped; a gap means we missed one, so we ask for a
// fresh snapshot, once, until it comes.

/** @typedef {'apply' | 'ignore' | 'resync'} Verdict */

export class Sequencer {
  constructor() {
    this.vhost = null;
    this.version = null;
    this.resyncing = false;
  }

  /** A new vhost is chosen: nothing we hold applies any more. */
  select(vhost) {
    this.vhost = vhost;
    this.version = null;
    this.resyncing = false;
  }

  /** @returns {Verdict} */
  snapshot(msg) {
    if (msg.vhost !== this.vhost) return 'ignore';
    this.version = msg.version;
    this.resyncing = false;
    return 'apply';
  }

  /** @returns {Verdict} */
  patch(msg) {
    if (msg.vhost !== this.vhost || this.version === null) return 'ignore';
    if (msg.to <= this.version) return 'ignore'; // already in our snapshot
    if (msg.from !== this.version) {
      if (this.resyncing) return 'ignore';
      this.resyncing = true;
      return 'resync';
    }
    this.version = msg.to;
    return 'apply';
  }

  /** After a reconnect the server holds no subscription for us: start again. */
  reconnected() {
    this.version = null;
    this.resyncing = false;
  }
}
