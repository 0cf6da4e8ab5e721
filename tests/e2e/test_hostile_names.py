"""A vhost full of hostile names on the real broker, shown in headless Chromium by the real
app in live mode: nothing executes, no element is injected, and every name is shown as
itself (details panel, search, node label), its invisible characters as visible markers
(tests/e2e/test_bidi_names.py shows that they no longer reverse or hide anything).

Names cover markup, event-handler attributes, javascript: URLs, template syntax, quotes,
HTML entities, 255-byte names, right-to-left overrides, emoji and names that differ only
in whitespace, across exchanges, queues, routing keys, header keys and values, consumer
tags, and Celery worker and task names (real Celery event messages on the vhost's
``celeryev`` exchange, consumed by the app's Celery events source).
"""

from __future__ import annotations

import json
import os
import time
import unicodedata
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import amqp
import pytest

from tests.brokers import BROKER
from tests.conftest import MANAGEMENT, Rabbit, run_live, stop_live, wait_for
from tests.e2e.conftest import click_on_graph, details_shown, every_match, expose_app, select_by_search, unmarked
from visualiser.config import Settings
from visualiser.model.topology import node_id

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# Each payload, if it ever ran, would push to window.__pwned (and some also call alert).
HOSTILE = [
    "<script>window.__pwned.push('script')</script>",
    "<img src=x onerror=\"window.__pwned.push('img');alert(1)\">",
    "\"'><svg onload=window.__pwned.push('svg')>",
    "javascript:window.__pwned.push('js')",
    "<a href=\"javascript:window.__pwned.push('href')\">click</a>",
    "{{constructor.constructor('window.__pwned.push(1)')()}}",
    "${window.__pwned.push('tpl')}",
    "&lt;b&gt;entity&lt;/b&gt; &amp;",
    'quote\'s "double" `back`',
    "\u202eexe.fdp\u202c right-to-left",
    "🐇📨 emoji queue",
    "é" * 127 + "x",  # 255 bytes of UTF-8
    "q" * 255,
    "spaced name",
    "spaced  name",
    " spaced name",
    "spaced name ",
    "spaced\tname",
]
HEADER_KEY = "<img src=x onerror=window.__pwned.push('hkey')>"
HEADER_VALUE = "\"><script>window.__pwned.push('hval')</script>"
ROUTING_KEY = "<svg onload=window.__pwned.push('rk')>.#"
WORKER = "celery@<img src=x onerror=window.__pwned.push('worker')>"
TASK = "tasks.<script>window.__pwned.push('task')</script>\u202eevil"
CONSUMER_TAGS = ["<img src=x onerror=window.__pwned.push('ctag')>", "ctag \u202eevil", "ctag  two  spaces"]

HOOKS = """
window.__pwned = [];
for (const name of ['alert', 'confirm', 'prompt', 'print']) {
  window[name] = (...args) => { window.__pwned.push(name + ':' + args.join(',')); };
}
"""

INJECTED = """() => {
  // The legend draws its own icons (SVG shapes, badge images): fixed drawings with no broker text.
  const suspicious = [...document.querySelectorAll('img, iframe, object, embed, svg, a[href^="javascript"], script:not([src]):not(#vocabulary)')]
    .filter((e) => !e.closest('#legend'));
  const handlers = [...document.querySelectorAll('*')].filter(
    (e) => [...e.attributes].some((a) => a.name.toLowerCase().startsWith('on')));
  return [...suspicious, ...handlers].map((e) => e.outerHTML.slice(0, 200));
}"""


def declare_hostile_vhost(rabbit: Rabbit) -> None:
    rabbit.declare_exchange("hdrs", "headers")
    for index, name in enumerate(HOSTILE):
        rabbit.declare_exchange(name, ["direct", "topic", "fanout"][index % 3])
        rabbit.declare_queue(name)
        rabbit.bind(name, name, ROUTING_KEY)
        rabbit.bind("hdrs", name, "", {"x-match": "any", HEADER_KEY: HEADER_VALUE})


@pytest.fixture
def hostile(rabbit: Rabbit) -> Iterator[Rabbit]:
    declare_hostile_vhost(rabbit)
    connection = amqp.Connection(BROKER.amqp_host, userid="guest", password="guest", virtual_host=rabbit.vhost)
    connection.connect()
    channel = connection.channel()
    for tag in CONSUMER_TAGS:
        channel.basic_consume(queue=HOSTILE[0], consumer_tag=tag, callback=lambda message: None)
    yield rabbit
    connection.close()


def celery_events(task_id: str) -> list[dict]:
    """What a Celery worker and producer would send for one task, named hostilely."""
    base = {"timestamp": time.time(), "utcoffset": 0, "pid": os.getpid(), "clock": 1}
    worker = {
        **base,
        "hostname": WORKER,
        "freq": 2.0,
        "active": 0,
        "processed": 1,
        "loadavg": [0.1, 0.1, 0.1],
        "sw_ident": "py-celery",
        "sw_ver": "5.7.0",
        "sw_sys": "Linux",
    }
    return [
        {**worker, "type": "worker-online"},
        {**worker, "type": "worker-heartbeat"},
        {
            **base,
            "type": "task-sent",
            "uuid": task_id,
            "name": TASK,
            "hostname": "producer@test",
            "queue": HOSTILE[1],
            "exchange": "",
            "routing_key": HOSTILE[1],
            "args": "()",
            "kwargs": "{}",
        },
        {
            **base,
            "type": "task-received",
            "uuid": task_id,
            "name": TASK,
            "hostname": WORKER,
            "args": "()",
            "kwargs": "{}",
        },
        {**base, "type": "task-started", "uuid": task_id, "hostname": WORKER},
        {
            **base,
            "type": "task-succeeded",
            "uuid": task_id,
            "hostname": WORKER,
            "runtime": 0.01,
            "result": "'<b>done</b>'",
        },
    ]


def publish_celery_events(channel: amqp.Channel) -> None:
    for event in celery_events(str(uuid.uuid4())):
        message = amqp.Message(json.dumps(event), content_type="application/json", content_encoding="utf-8")
        channel.basic_publish(message, exchange="celeryev", routing_key=event["type"].replace("-", "."))


@pytest.fixture
def live(hostile: Rabbit):
    settings = Settings(management_url=MANAGEMENT, poll_interval=1.0, broker_url=hostile.amqp_url())
    server, _ = run_live(settings)
    expected = {node_id("queue", name) for name in HOSTILE}

    def loaded() -> bool:
        body = server.get("/api/topology", params={"vhost": hostile.vhost}).json()
        ids = {n["id"] for n in body.get("nodes", [])}
        tags = {n["name"] for n in body.get("nodes", []) if n["kind"] == "consumer"}
        return expected <= ids and set(CONSUMER_TAGS) <= tags

    wait_for(loaded, timeout=120, message="the hostile vhost in the app's graph")
    celery_ok = lambda: server.get("/healthz").json()["sources"].get("celery-events", {}).get("state") == "ok"  # noqa: E731
    wait_for(celery_ok, timeout=120, message="the Celery events source connected")
    connection = amqp.Connection(BROKER.amqp_host, userid="guest", password="guest", virtual_host=hostile.vhost)
    connection.connect()
    publish_celery_events(connection.channel())
    connection.close()
    wait_for(
        lambda: (
            node_id("worker", WORKER) in server.get("/api/topology", params={"vhost": hostile.vhost}).text
            or WORKER in json.dumps(server.get("/api/workers").json())
        ),
        timeout=120,
        message="the hostile worker",
    )
    yield server
    stop_live(server)


def open_vhost(page, server, vhost: str) -> None:
    page.add_init_script(HOOKS)
    page.console_errors = []
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{server.url}/?vhost={quote(vhost, safe='')}")
    expose_app(page)
    count = len(HOSTILE) * 2
    page.wait_for_function(f"() => window.__app && window.__app.graph.cy.nodes().length >= {count}", timeout=30000)


def hides_nothing(shown: str) -> bool:
    """No character of the shown text is invisible or reorders the text around it."""
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in shown.replace("\n", ""))


def clicked(page, element_id: str) -> dict[str, str]:
    """What Details shows for an element clicked where it is drawn."""
    click_on_graph(page, element_id)
    page.wait_for_function(
        "() => document.querySelector('#panel-details h2')?.textContent.includes(' → ')", timeout=5000
    )
    return details_shown(page)


def test_hostile_names_never_execute_and_show_as_themselves(page, live, hostile: Rabbit) -> None:
    open_vhost(page, live, hostile.vhost)

    for name in HOSTILE:
        # Its exchange and its queue are found by searching the name, and each is shown as itself:
        # every character, the invisible ones as visible markers that read back as the name.
        shown = every_match(page, name)
        found = [s for s in shown if unmarked(s["title"]) == name]
        assert sorted(s["kind"].split()[-1] for s in found) == ["exchange", "queue"], (name, shown)
        assert all(hides_nothing(s["title"]) for s in found), found
        for kind in ("exchange", "queue"):
            label = page.evaluate(
                "(id) => window.__app.graph.element(id).pstyle('label').strValue", node_id(kind, name)
            )
            first_line = unmarked(label.split("\n")[0].rstrip("…"))  # drawn on the canvas
            assert name.startswith(first_line) and hides_nothing(label), (name, label)

    # Names differing only in whitespace stay distinguishable on screen, not just in the DOM.
    spaced = [name for name in HOSTILE if "spaced" in name]
    queues = [s for s in every_match(page, "spaced") if s["kind"] == "queue"]
    assert sorted(unmarked(s["title"]) for s in queues) == sorted(spaced)
    assert len({s["rendered"] for s in queues}) == len(spaced), [s["rendered"] for s in queues]

    # A binding with a hostile routing key, and one with hostile header arguments, clicked on the graph.
    edges = page.evaluate(
        """([key, header]) => window.__app.graph.cy.edges().map((e) => [e.id(), e.data('routing_key'),
                               Object.keys(e.data('arguments') || {}).includes(header)])""",
        [ROUTING_KEY, HEADER_KEY],
    )
    keyed = [edge for edge, key, _ in edges if key == ROUTING_KEY]
    with_header = [edge for edge, _, has_header in edges if has_header]
    assert len(keyed) == len(with_header) == len(HOSTILE)  # one of each per hostile queue
    assert ROUTING_KEY in clicked(page, keyed[-1])["text"]
    header_text = clicked(page, with_header[-1])["text"]
    assert HEADER_KEY in header_text and HEADER_VALUE in header_text

    for tag in CONSUMER_TAGS:  # consumer tags: found by name, shown as themselves
        assert hides_nothing(select_by_search(page, tag, "consumer")["title"])

    page.wait_for_function("(id) => window.__app.graph.element(id)", arg=node_id("worker", WORKER), timeout=15000)
    assert select_by_search(page, WORKER, "worker")["title"] == WORKER
    page.click("#tab-tasks")
    page.wait_for_function(
        "(name) => document.querySelector('#celery-tasks').textContent.includes(name)",
        arg=TASK.replace("\u202e", "‹U+202E›"),
        timeout=15000,
    )
    assert WORKER in page.locator("#celery-workers").text_content()

    assert page.evaluate("() => window.__pwned") == []
    assert page.evaluate(INJECTED) == []
    assert page.errors == []  # uncaught errors and dialogs (the page fixture)
    assert page.console_errors == []  # includes CSP violations
