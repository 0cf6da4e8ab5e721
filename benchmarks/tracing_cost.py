"""What firehose tracing costs: the broker's throughput and CPU with tracing off and on, and
whether the service keeps up, side by side in one run.

On a throwaway vhost of the local broker, a topic exchange routes each 1 KB message to one
or two of four queues (1.5 on average), which one consumer process drains. For each target
rate (1,000 and 5,000 messages a second, then as fast as one publisher process can), a
publisher process runs for a fixed time twice: with tracing off, then with the service
tracing the vhost. Each phase reports the publisher's achieved rate, the consumer's, the
broker's CPU (its beam process) and, when tracing, the share of the trace messages the
broker produced (one per publish, one per delivery) that the service counted, how many the
broker dropped from the service's bounded queue (counted), and the service's CPU and RSS.
With ``--page``, the page is open on the vhost in headless Chromium through every phase (so
that its cost weighs on both sides), and each phase also reports the page's frame rate, its
longest frame, and how many traced-message markers were moving.

    .venv/bin/python benchmarks/tracing_cost.py [--broker 3.10|4.0] [--seconds 15] [--rates 1000,5000,max] [--page]

Rates are what one Python publisher achieves on this machine; a target it cannot reach is
reported as reached, not as the target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.brokers import BROKERS, PASSWORD, USER, Broker  # noqa: E402

AUTH = (USER, PASSWORD)
EXCHANGE = "bench"
QUEUES = {"q.orders": "order.#", "q.created": "*.created", "q.eu": "#.eu", "q.audit": "audit.#"}
KEYS = ["order.created", "order.shipped.eu", "invoice.created", "user.signup.eu"]  # 2, 2, 1, 1 queues
BODY = b"x" * 1024
TICKS = os.sysconf("SC_CLK_TCK")


# ---- child processes: publisher and consumer -----------------------------------------------------------


def publish(amqp_host: str, vhost: str, rate: float, seconds: float) -> dict[str, Any]:
    import amqp

    # py-amqp sets TCP_USER_TIMEOUT to 1 s: a publisher the broker holds back (flow control)
    # for longer would have its connection cut by the kernel. 0: the system's default.
    conn = amqp.Connection(
        amqp_host, userid=USER, password=PASSWORD, virtual_host=vhost, socket_settings={socket.TCP_USER_TIMEOUT: 0}
    )
    conn.connect()
    channel = conn.channel()
    sent, started, error = 0, time.perf_counter(), None
    try:
        while True:
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
            due = int(elapsed * rate) + 1 if rate > 0 else sent + 200
            if sent >= due:
                time.sleep(0.001)
                continue
            for _ in range(min(due - sent, 200)):
                channel.basic_publish(amqp.Message(BODY), exchange=EXCHANGE, routing_key=KEYS[sent % len(KEYS)])
                sent += 1
    except Exception as exc:  # noqa: BLE001 - reported with what was sent before it
        error = f"{type(exc).__name__}: {exc}"
    took = time.perf_counter() - started
    with contextlib.suppress(Exception):
        conn.close()
    return {"published": sent, "seconds": round(took, 2), "rate": round(sent / took), "error": error}


def consume(amqp_host: str, vhost: str, seconds: float) -> dict[str, Any]:
    import amqp

    conn = amqp.Connection(amqp_host, userid=USER, password=PASSWORD, virtual_host=vhost)
    conn.connect()
    channel = conn.channel()
    count = [0]

    def got(_message: Any) -> None:
        count[0] += 1

    for queue in QUEUES:
        channel.basic_consume(queue, callback=got, no_ack=True)
    deadline, error = time.monotonic() + seconds, None
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                conn.drain_events(timeout=0.2)
    except Exception as exc:  # noqa: BLE001 - reported with what was delivered before it
        error = f"{type(exc).__name__}: {exc}"
    with contextlib.suppress(Exception):
        conn.close()
    return {"delivered": count[0], "error": error}


def path_alone(messages: int = 20_000) -> dict[str, Any]:
    """The service's own work per trace message, in this process with no broker in the way:
    read a copy (decode), judge a publish against the simulator, apply it to the session."""
    from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
    from visualiser.tracing.compare import Simulator
    from visualiser.tracing.decode import decode_copy
    from visualiser.tracing.session import Judged, TraceSession

    topology = VhostSnapshot(
        "v",
        exchanges=(Exchange(""), Exchange(EXCHANGE, "topic")),
        queues=tuple(Queue(q) for q in QUEUES),
        bindings=tuple(Binding(EXCHANGE, q, "queue", k) for q, k in QUEUES.items()),
    )
    simulator, session = Simulator(per_second=10**9), TraceSession("v")
    headers = {
        "exchange_name": EXCHANGE,
        "routing_keys": ["order.created"],
        "routed_queues": ["q.created", "q.orders"],
        "properties": {"priority": 0, "delivery_mode": 2, "headers": {}},
        "node": "rabbit@n1",
        "vhost": "v",
        "connection": "127.0.0.1:40000 -> 127.0.0.1:5672",
        "channel": 1,
        "user": "guest",
    }
    started, cpu = time.perf_counter(), time.process_time()
    for n in range(messages):
        copy = decode_copy("publish." + EXCHANGE, headers, b"%d" % n + BODY, time.time(), 2048)
        session.ingest([Judged(copy, simulator.judge(copy, topology, 1), topology)])
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    # Per CPU second as well as per second: on a shared machine the wall clock includes waiting for a core.
    return {
        "path_alone": "decode, judge and apply one publish copy",
        "messages": messages,
        "per_second": round(messages / took),
        "per_cpu_second": round(messages / cpu),
        "agreed": session.counts["agreed"],
    }


# ---- the page: frames drawn while markers move ------------------------------------------------------------

# Counts the page's animation frames and, on each, the markers moving and the badges shown; and
# times the page's own trace work: drawing the trace layer, and handling each trace-activity frame
# (tallies, markers launched, message list). The rest of a frame's time is the graph's and the machine's.
FRAMES_START = """() => {
  const s = window.__bench = { frames: 0, start: performance.now(), last: performance.now(), longest: 0,
                               alive: 0, most: 0, badges: 0, running: true, drawMs: 0, draws: 0, frameMs: 0, handled: 0 };
  const trace = window.__app.trace; const layer = trace.layer;
  if (!layer.__timed) {
    layer.__timed = true;
    const draw = layer._draw.bind(layer);
    layer._draw = (now) => { const t = performance.now(); draw(now); window.__bench.drawMs += performance.now() - t; window.__bench.draws += 1; };
    const onActivity = trace.onActivity.bind(trace);
    trace.onActivity = (frame) => { const t = performance.now(); onActivity(frame); window.__bench.frameMs += performance.now() - t; window.__bench.handled += 1; };
  }
  const step = (now) => {
    if (!s.running) return;
    s.frames += 1; s.longest = Math.max(s.longest, now - s.last); s.last = now;
    s.alive += layer.alive; s.most = Math.max(s.most, layer.alive); s.badges = Math.max(s.badges, layer.badges.length);
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}"""
FRAMES_STOP = """() => {
  const s = window.__bench; s.running = false;
  const seconds = (s.last - s.start) / 1000;
  const round = (v, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
  return { page_fps: round(s.frames / seconds), page_longest_frame_ms: Math.round(s.longest),
           markers_moving_avg: round(s.alive / Math.max(1, s.frames)), markers_moving_max: s.most, edge_badges: s.badges,
           trace_draw_ms_avg: round(s.drawMs / Math.max(1, s.draws), 2), trace_activity_frames: s.handled,
           trace_activity_ms_avg: round(s.frameMs / Math.max(1, s.handled), 2),
           trace_page_busy_pct: round(100 * (s.drawMs + s.frameMs) / (seconds * 1000)) };
}"""


class Page:
    """The page open on the benchmark's vhost in headless Chromium, as a person watching the trace."""

    def __init__(self, url: str, vhost: str):
        from playwright.sync_api import sync_playwright

        from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, open_page

        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        self.page = self.browser.new_page(viewport={"width": 1600, "height": 950})
        open_page(self.page, f"{url}/?vhost={quote(vhost, safe='')}")
        self.page.click("#tab-trace")

    def start(self) -> None:
        self.page.evaluate(FRAMES_START)

    def stop(self) -> dict[str, Any]:
        return dict(self.page.evaluate(FRAMES_STOP))

    def close(self) -> None:
        self.browser.close()
        self.playwright.stop()


def child(role: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--child", role, *args], stdout=subprocess.PIPE, text=True)


# ---- measuring processes -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mb(pid: int) -> tuple[float, float]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


class Bench:
    def __init__(self, broker: Broker):
        self.broker = broker
        self.vhost = f"bench-{uuid.uuid4().hex[:8]}"
        self.api = broker.management + "/api"
        self.session = requests.Session()
        self.session.auth = AUTH
        self.service: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.page: Page | None = None

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, self.api + path, timeout=30, **kwargs)
        except requests.ConnectionError:  # a kept-alive connection the broker closed meanwhile: once more
            response = self.session.request(method, self.api + path, timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def setup(self) -> None:
        v = quote(self.vhost, safe="")
        self.call("PUT", f"/vhosts/{v}")
        self.call("PUT", f"/permissions/{v}/{USER}", json={"configure": ".*", "write": ".*", "read": ".*"})
        self.call("PUT", f"/exchanges/{v}/{EXCHANGE}", json={"type": "topic", "durable": True})
        for queue, pattern in QUEUES.items():
            # Bounded, so that a consumer slower than the publisher cannot fill the broker's memory.
            self.call(
                "PUT",
                f"/queues/{v}/{queue}",
                json={"durable": True, "arguments": {"x-max-length": 50_000, "x-overflow": "drop-head"}},
            )
            self.call("POST", f"/bindings/{v}/e/{EXCHANGE}/q/{queue}", json={"routing_key": pattern})

    def broker_pid(self) -> int:
        node = self.call("GET", "/overview").json()["node"]
        return int(self.call("GET", f"/nodes/{quote(node, safe='')}").json()["os_pid"])

    def start_service(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.service = subprocess.Popen(
            [
                sys.executable,
                "app.py",
                "--port",
                str(port),
                "--allow-tracing",
                "--log-level",
                "WARNING",
                "--management-url",
                self.broker.management_url(),
                "--trace-url",
                self.broker.amqp_url(),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "VISUALISER_NO_RECORD": "1"},
        )  # measure tracing, not the recorder
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/api/vhosts", timeout=2).json().count({"name": self.vhost}):
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.5)
        raise SystemExit("the service did not show the benchmark's vhost within 120 s")

    def trace(self, method: str) -> dict[str, Any]:
        origin = {"Origin": self.url}
        if method == "POST":
            response = requests.post(
                self.url + "/api/trace", json={"vhost": self.vhost, "minutes": 30}, headers=origin, timeout=60
            )
        elif method == "DELETE":
            response = requests.delete(
                self.url + "/api/trace", params={"vhost": self.vhost}, headers=origin, timeout=60
            )
        else:
            response = requests.get(self.url + "/api/trace", params={"vhost": self.vhost}, timeout=60)
        response.raise_for_status()
        return dict(response.json())

    def settled_counts(self) -> tuple[dict[str, Any], float]:
        """The trace's counts once they stop moving (the service catching up with its queue), and
        when they last moved."""
        last: dict[str, Any] = {}
        still, moved_at = 0, time.monotonic()
        for _ in range(300):
            counts = self.trace("GET")["counts"]
            if (counts["traced"], counts["dropped"]) != (last.get("traced"), last.get("dropped")):
                still, moved_at = 0, time.monotonic()
            else:
                still += 1
            if still >= 5:  # five seconds without a change: whatever reached the service has been read
                break
            last = counts
            time.sleep(1)
        return last, moved_at

    def purge(self) -> None:
        for queue in QUEUES:
            self.call("DELETE", f"/queues/{quote(self.vhost, safe='')}/{queue}/contents")

    def phase(self, rate: float, seconds: float, tracing: bool, publishers: int) -> dict[str, Any]:
        """One run of the publishers; CPU is measured over the publishing window."""
        assert self.service is not None
        self.purge()
        if tracing:
            self.trace("POST")
        broker_pid = self.broker_pid()
        cpu_before = (cpu_seconds(broker_pid), cpu_seconds(self.service.pid))
        started = time.monotonic()
        if self.page is not None:
            self.page.start()
        consumer = child("consume", self.broker.amqp_host, self.vhost, str(seconds + 2))
        running = [
            child("publish", self.broker.amqp_host, self.vhost, str(rate / publishers), str(seconds))
            for _ in range(publishers)
        ]
        sent = [json.loads(p.communicate()[0]) for p in running]
        window = time.monotonic() - started
        drawn = self.page.stop() if self.page is not None else {}
        broker_cpu = cpu_seconds(broker_pid) - cpu_before[0]
        service_cpu = cpu_seconds(self.service.pid) - cpu_before[1]
        consumed = json.loads(consumer.communicate()[0])
        delivered = consumed["delivered"]
        published = sum(s["published"] for s in sent)
        result: dict[str, Any] = {
            "target": "max" if rate <= 0 else int(rate),
            "tracing": tracing,
            "published": published,
            "rate": round(published / max(s["seconds"] for s in sent)),
            "delivered": delivered,
            "broker_cpu_pct": round(100 * broker_cpu / window),
            "service_cpu_pct": round(100 * service_cpu / window),
        }
        result.update(drawn)
        errors = [e for e in [*(s["error"] for s in sent), consumed["error"]] if e]
        if errors:
            result["errors"] = errors
        if tracing:
            counts, moved_at = self.settled_counts()
            expected = published + delivered
            result.update(
                trace_messages=expected,
                counted=counts["traced"],
                dropped=counts["dropped"],
                share_counted=round(counts["traced"] / expected, 4) if expected else None,
                disagreed=counts["disagreed"],
                unchecked=counts["unchecked"],
                caught_up_after_s=round(max(0.0, moved_at - started - window), 1),
            )
            self.trace("DELETE")
        result["service_rss_mb"], result["service_peak_rss_mb"] = (round(v) for v in rss_mb(self.service.pid))
        return result

    def teardown(self) -> None:
        if self.page is not None:
            self.page.close()
        if self.service is not None:
            self.service.terminate()
            self.service.wait(30)
        self.session.delete(self.api + f"/vhosts/{quote(self.vhost, safe='')}", timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default="3.10", choices=sorted(BROKERS))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rates", default="1000,5000,max")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes sharing each rate")
    parser.add_argument(
        "--page", action="store_true", help="keep the page open in headless Chromium and measure its frame rate"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        role, *rest = args.child
        if role == "publish":
            print(json.dumps(publish(rest[0], rest[1], float(rest[2]), float(rest[3]))))
        else:
            print(json.dumps(consume(rest[0], rest[1], float(rest[2]))))
        return
    bench = Bench(BROKERS[args.broker])
    overview = bench.call("GET", "/overview").json()
    print(
        f"RabbitMQ {overview['rabbitmq_version']} ({args.broker}), {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, {args.seconds:g} s per phase, {args.publishers} publisher processes, "
        f"1 KB bodies, {len(QUEUES)} queues on a topic exchange, one consumer process"
        + (", the page open in headless Chromium at 1600x950" if args.page else "")
    )
    print(json.dumps(path_alone()), flush=True)
    bench.setup()
    try:
        bench.start_service()
        if args.page:
            bench.page = Page(bench.url, bench.vhost)
        for text in args.rates.split(","):
            rate = 0.0 if text == "max" else float(text)
            for tracing in (False, True):
                print(json.dumps(bench.phase(rate, args.seconds, tracing, args.publishers)), flush=True)
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
