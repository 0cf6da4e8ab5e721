"""One abusive Socket.IO client against the real app: does memory stay flat, do others get served?

The server is the real app (hub, Flask-SocketIO in threading mode, the bounded Werkzeug
server) on a synthetic 2,000-queue topology, fed by the synthetic source of
``socket_load.py``: a management-API-shaped broker posted every interval with queue depths
changed, so every poll is a patch.

Two clients, each in its own process:

- the **abuser**: a raw websocket (a plain TCP socket that sends hand-made frames and
  reads nothing after the handshake, so it truly does not read) that subscribes and then
  sends ``resync`` about ``--rate`` times a second. It answers Engine.IO's pings blindly
  (a pong every 10 s) so that only the server's own limits can get rid of it, and when
  dropped it connects again, as a persistent attacker would;
- a **good client**: python-socketio over websocket, keeping its graph as the page does
  (snapshot, then patches in version order, resync on a gap).

It prints the server's RSS before the abuser starts, during the attack (max) and after it
stops (after ``--settle`` seconds), the patches the good client applied against the patches
emitted, and how often the server dropped the abuser.

    .venv/bin/python -m benchmarks.socket_abuse --duration 60
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import sys
import threading
import time
from typing import Any

from benchmarks.socket_load import free_port
from tests.raw_socketio import GoodClient, open_raw_socketio, ws_frame
from tests.synthetic import VHOST, SyntheticBroker, SyntheticSource, rss_mb
from visualiser import create_app, service_of
from visualiser.config import Settings

PONG_EVERY = 10.0


# ---- the abuser: a raw websocket that never reads ----------------------------------------------


def abuser_process(port: int, rate: float, duration: float, results: Any) -> None:
    logging.disable(logging.CRITICAL)
    resync = ws_frame(f'42["resync",{{"vhost":"{VHOST}"}}]')
    sent = connections = 0
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        try:
            sock = open_raw_socketio(port)
        except OSError:
            time.sleep(0.2)
            continue
        connections += 1
        next_pong = time.monotonic() + PONG_EVERY
        try:
            while time.monotonic() < deadline:
                sock.sendall(resync)
                sent += 1
                if time.monotonic() >= next_pong:
                    sock.sendall(ws_frame("3"))  # a blind pong: the server's pings are never read
                    next_pong += PONG_EVERY
                time.sleep(1.0 / rate)
        except OSError:
            pass  # dropped by the server: come back
        finally:
            sock.close()
    results.put({"sent": sent, "connections": connections})


# ---- the good client ------------------------------------------------------------------------------


def good_process(url: str, results: Any, ready: Any, stop: Any) -> None:
    logging.disable(logging.CRITICAL)
    client = GoodClient(url)
    while client.version is None:
        time.sleep(0.1)
    ready.put(True)
    stop.wait()
    results.put({"applied_at": client.applied_at, "snapshots": client.snapshots, "resyncs": client.resyncs})
    client.sio.disconnect()


# ---- the server and the run -------------------------------------------------------------------------


def start_server(args: argparse.Namespace) -> tuple[int, SyntheticSource, list[float]]:
    service = service_of(create_app(Settings(log_level="ERROR"), sources=[]))
    source = SyntheticSource(service.hub, SyntheticBroker(args.queues, 40), args.interval, 50)
    service.sources.append(source)
    emitted: list[float] = []

    def emit(event: str, data: Any, to: str | None = None) -> None:
        if event == "patch":
            emitted.append(time.time())
        service.socketio.emit(event, data, to=to)

    service.hub.set_emitter(emit)
    port = free_port()
    service.start()
    threading.Thread(
        target=service.socketio.run,
        args=(service.app,),
        daemon=True,
        kwargs={"host": "127.0.0.1", "port": port, "allow_unsafe_werkzeug": True, "log_output": False},
    ).start()
    return port, source, emitted


def sample_rss(seconds: float) -> list[float]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(rss_mb())
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    return samples or [rss_mb()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queues", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between synthetic polls")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of attack")
    parser.add_argument("--rate", type=float, default=450.0, help="resync messages a second from the abuser")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds watched after the abuser stops")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    port, source, emitted = start_server(args)
    url = f"http://127.0.0.1:{port}"
    ctx = mp.get_context("spawn")
    results, ready, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    good = ctx.Process(target=good_process, args=(url, results, ready, stop), daemon=True)
    good.start()
    ready.get(timeout=120)
    before = max(sample_rss(5.0))

    attack_start = time.time()
    abuser = ctx.Process(target=abuser_process, args=(port, args.rate, args.duration, results), daemon=True)
    abuser.start()
    during = sample_rss(args.duration)
    abuser.join(60)
    attack_end = time.time()
    after = sample_rss(args.settle)
    stop.set()
    outcome = [results.get(timeout=60) for _ in range(2)]
    good.join(30)
    source.stop()

    abuse = next(r for r in outcome if "sent" in r)
    client = next(r for r in outcome if "applied_at" in r)
    in_attack = [t for t in client["applied_at"] if attack_start <= t <= attack_end]
    emitted_in_attack = [t for t in emitted if attack_start <= t <= attack_end]
    print(
        f"queues={args.queues} interval={args.interval}s attack={args.duration:.0f}s at {args.rate:.0f} resync/s, "
        f"settle={args.settle:.0f}s"
    )
    print(
        f"abuser: {abuse['sent']} messages sent over {abuse['connections']} connections "
        f"(dropped by the server {max(0, abuse['connections'] - 1)} times)"
    )
    print(
        f"good client during the attack: {len(in_attack)} patches applied of {len(emitted_in_attack)} emitted; "
        f"snapshots={client['snapshots']} resyncs={client['resyncs']}"
    )
    print(
        f"server RSS MB: before={before:.1f} during max={max(during):.1f} end of attack={during[-1]:.1f} "
        f"after={after[-1]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
