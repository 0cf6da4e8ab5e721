// The topology stream: a snapshot on subscribe, then versioned patches. A patch whose
// `from` is not our version means we missed one: ask for a fresh snapshot instead.
import { io } from '../vendor/socket.io-client-4.8.4/socket.io.esm.min.js';

export function connectTopology(handlers) {
  const socket = io({ transports: ['websocket', 'polling'] });
  const state = { vhost: null, version: null, resyncing: false };

  const subscribe = () => {
    if (state.vhost === null) return;
    state.version = null;
    socket.emit('subscribe', { vhost: state.vhost });
  };
  const resync = () => {
    if (state.resyncing) return;
    state.resyncing = true;
    socket.emit('resync', { vhost: state.vhost });
  };

  socket.on('connect', () => { handlers.onConnection?.(true); subscribe(); });
  socket.on('disconnect', () => handlers.onConnection?.(false));
  socket.on('connect_error', () => handlers.onConnection?.(false));
  socket.on('hello', (msg) => handlers.onHello?.(msg));
  socket.on('vhosts', (list) => handlers.onVhosts?.(list));
  socket.on('status', (msg) => handlers.onStatus?.(msg));
  socket.on('error', (msg) => handlers.onError?.(msg));
  socket.on('vhost-removed', (msg) => { if (msg.vhost === state.vhost) handlers.onVhostRemoved?.(msg); });

  socket.on('snapshot', (msg) => {
    if (msg.vhost !== state.vhost) return;
    state.version = msg.version;
    state.resyncing = false;
    handlers.onSnapshot?.(msg);
  });
  socket.on('patch', (msg) => {
    if (msg.vhost !== state.vhost || state.version === null) return;
    if (msg.to <= state.version) return; // already in our snapshot
    if (msg.from !== state.version) { resync(); return; }
    state.version = msg.to;
    handlers.onPatch?.(msg);
  });

  return {
    socket,
    get vhost() { return state.vhost; },
    get version() { return state.version; },
    select(vhost) { state.vhost = vhost; if (socket.connected) subscribe(); },
    resync,
  };
}
