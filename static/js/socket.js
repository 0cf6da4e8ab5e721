// The topology stream: a snapshot on subscribe, then versioned patches, sequenced by
// sequence.js (a gap asks for a fresh snapshot instead of applying a patch out of order).
import { io } from '../vendor/socket.io-client-4.8.4/socket.io.esm.min.js';
import { Sequencer } from './sequence.js';

export function connectTopology(handlers) {
  const socket = io({ transports: ['websocket', 'polling'] });
  const sequence = new Sequencer();

  // The vhost this connection is subscribed to. Socket.IO hands over the frames that came with
  // the connection (vhosts, hello: the page picks its vhost then) before its 'connect' event,
  // so both would subscribe, and two snapshots would follow: once per connection is enough.
  let subscribed = null;
  const subscribe = () => {
    if (sequence.vhost === null || subscribed === sequence.vhost) return;
    subscribed = sequence.vhost;
    sequence.reconnected();
    socket.emit('subscribe', { vhost: sequence.vhost });
  };

  socket.on('connect', () => { handlers.onConnection?.(true); subscribe(); });
  socket.on('disconnect', () => { subscribed = null; handlers.onConnection?.(false); });
  socket.on('connect_error', () => handlers.onConnection?.(false));
  socket.on('hello', (msg) => handlers.onHello?.(msg));
  socket.on('vhosts', (list) => handlers.onVhosts?.(list));
  socket.on('status', (msg) => handlers.onStatus?.(msg));
  socket.on('error', (msg) => handlers.onError?.(msg));
  socket.on('vhost-removed', (msg) => { if (msg.vhost === sequence.vhost) handlers.onVhostRemoved?.(msg); });
  socket.on('snapshot', (msg) => { if (sequence.snapshot(msg) === 'apply') handlers.onSnapshot?.(msg); });
  socket.on('patch', (msg) => {
    const verdict = sequence.patch(msg);
    if (verdict === 'apply') handlers.onPatch?.(msg);
    else if (verdict === 'resync') socket.emit('resync', { vhost: sequence.vhost });
  });

  return {
    socket,
    get vhost() { return sequence.vhost; },
    get version() { return sequence.version; },
    select(vhost) { sequence.select(vhost); if (socket.connected) subscribe(); },
  };
}
