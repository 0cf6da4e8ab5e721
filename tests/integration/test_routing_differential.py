"""The simulator against the real broker: random topologies, random messages, same answers.

Each seeded topology (every exchange type, exchange-to-exchange bindings, alternate
exchanges by argument and by policy, internal exchanges, typed headers bindings) is
declared in its own throwaway vhost. Every message carries a unique id; after publishing
(with confirms) every queue is drained with basic.get, so we know exactly which queues
the broker put each message in. The snapshot fed to ``route()`` is read back through the
management API, the way live mode reads it, and routed twice: with the broker's own
policy attribution and with policies resolved by us (definitions mode). Any disagreement
is shrunk to the smallest topology and message that still disagree, and printed.

ROUTING_DIFF_SEED and ROUTING_DIFF_TOPOLOGIES change the seed and the size.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import amqp
import pytest

from tests.brokers import BROKER
from tests.conftest import Rabbit, wait_for
from visualiser.model.entities import VhostSnapshot
from visualiser.routing import route
from visualiser.sources.management_api import BINDING_COLUMNS, EXCHANGE_COLUMNS, QUEUE_COLUMNS
from visualiser.sources.normalise import vhost_snapshot

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("ROUTING_DIFF_SEED", "20261125"))
TOPOLOGIES = int(os.environ.get("ROUTING_DIFF_TOPOLOGIES", "50"))
MESSAGES_PER_TOPOLOGY = 50

TYPES = ("direct", "fanout", "topic", "headers")
WORDS = ("a", "b", "c", "")
TOPIC_TOKENS = ("a", "b", "*", "#", "", "c")
HEADER_KEYS = ("h1", "h2", "x-h", "h3")
# One of each type the broker compares: integers, floats equal to them, strings that look
# like numbers, booleans (never equal to 1), and plain strings.
VALUES: tuple[Any, ...] = (1, 1.0, 2, 2.5, "1", "a", True, False, 0)
X_MATCH = ("all", "any", "all-with-x", "any-with-x", None)
POLICY_PATTERNS = ("^alpha", "^beta", "1$", ".", r"^alpha\.0$", "^none", "a")


@dataclass(frozen=True)
class TExchange:
    name: str
    type: str
    internal: bool = False
    alternate: str | None = None


@dataclass(frozen=True)
class TBinding:
    source: str
    destination: str
    destination_type: str
    routing_key: str
    arguments: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class TPolicy:
    name: str
    pattern: str
    apply_to: str
    priority: int
    alternate: str


@dataclass(frozen=True)
class TMessage:
    exchange: str
    routing_key: str
    headers: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Topology:
    exchanges: tuple[TExchange, ...]
    queues: tuple[str, ...]
    bindings: tuple[TBinding, ...]
    policies: tuple[TPolicy, ...] = field(default=())

    def describe(self) -> str:
        lines = [f"exchange {json.dumps(vars(e))}" for e in self.exchanges]
        lines += [f"queue {json.dumps(q)}" for q in self.queues]
        lines += [f"binding {json.dumps({**vars(b), 'arguments': dict(b.arguments)})}" for b in self.bindings]
        lines += [f"policy {json.dumps(vars(p))}" for p in self.policies]
        return "\n".join(lines)


# ---- generation ----------------------------------------------------------------------------


def random_key(rng: random.Random) -> str:
    return ".".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4)))


def random_topic_binding(rng: random.Random) -> str:
    return ".".join(rng.choice(TOPIC_TOKENS) for _ in range(rng.randint(0, 4)))


def random_headers_args(rng: random.Random) -> tuple[tuple[str, Any], ...]:
    args: dict[str, Any] = {k: rng.choice(VALUES) for k in rng.sample(HEADER_KEYS, rng.randint(0, 3))}
    kind = rng.choice(X_MATCH)
    if kind is not None:
        args["x-match"] = kind
    return tuple(sorted(args.items()))


def random_topology(rng: random.Random) -> Topology:
    names = [f"{rng.choice(('alpha', 'beta'))}.{i}" for i in range(rng.randint(3, 6))]
    exchange_names = list(dict.fromkeys(names))
    queues = tuple(f"q{i}" for i in range(rng.randint(2, 5)))
    exchanges = []
    for name in exchange_names:
        alternate = rng.choice([*exchange_names, "missing"]) if rng.random() < 0.35 else None
        exchanges.append(TExchange(name, rng.choice(TYPES), rng.random() < 0.15, alternate))
    by_name = {e.name: e for e in exchanges}
    bindings = set()
    for _ in range(rng.randint(3, 12)):
        source = by_name[rng.choice(exchange_names)]
        to_exchange = rng.random() < 0.3
        destination = rng.choice(exchange_names) if to_exchange else rng.choice(queues)
        key = random_topic_binding(rng) if source.type == "topic" else random_key(rng)
        args = random_headers_args(rng) if source.type == "headers" else ()
        bindings.add(TBinding(source.name, destination, "exchange" if to_exchange else "queue", key, args))
    policies = []
    priorities = rng.sample(range(10), 3)  # distinct: the broker's tie-break is not observable
    for i in range(rng.choice((0, 1, 1, 2, 3))):
        policies.append(
            TPolicy(
                f"p{i}",
                rng.choice(POLICY_PATTERNS),
                rng.choice(("all", "exchanges", "queues")),
                priorities[i],
                rng.choice([*exchange_names, "missing"]),
            )
        )
    return Topology(tuple(exchanges), queues, tuple(sorted(bindings, key=repr)), tuple(policies))


def random_message(rng: random.Random, topology: Topology) -> TMessage:
    publishable = [e.name for e in topology.exchanges if not e.internal]
    exchange = rng.choice([*publishable, ""])
    key = rng.choice(topology.queues) if exchange == "" and rng.random() < 0.6 else random_key(rng)
    headers = {k: rng.choice(VALUES) for k in rng.sample(HEADER_KEYS, rng.randint(0, 3))}
    if rng.random() < 0.08:
        headers[rng.choice(("CC", "BCC"))] = [rng.choice([*topology.queues, random_key(rng)])]
    return TMessage(exchange, key, tuple(sorted(headers.items())))


# ---- the broker side -------------------------------------------------------------------------


class Broker:
    """Declares one topology in the test's vhost and tells which queues each message reached.

    One vhost serves every topology (creating vhosts is slow on a busy broker): on the way
    out, everything the topology declared is deleted again.
    """

    def __init__(self, lab: Lab, topology: Topology):
        self.rabbit, self.connection, self.topology = lab.rabbit, lab.connection, topology

    def __enter__(self) -> Broker:
        self.channel = self.connection.channel()
        try:
            self.declare()
        except BaseException:
            self.clean()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.clean()

    def http(self, method: str, *parts: str, body: Any = None) -> Any:
        """The management API with a patient timeout: the broker is shared and may be busy."""
        response = self.rabbit.session.request(method, self.rabbit._url(*parts), json=body, timeout=60)
        assert response.status_code < 400, f"{method} {parts}: {response.status_code} {response.text[:300]}"
        return response.json() if response.content else None

    def clean(self) -> None:
        for p in self.topology.policies:
            self.http("DELETE", "policies", self.rabbit.vhost, p.name)
        channel = self.connection.channel()  # ours may have been closed by an error
        for exchange in self.topology.exchanges:
            channel.exchange_delete(exchange.name)
        for queue in self.topology.queues:
            channel.queue_delete(queue)
        channel.close()

    def declare(self) -> None:
        for exchange in self.topology.exchanges:
            arguments = {"alternate-exchange": exchange.alternate} if exchange.alternate else {}
            self.http(
                "PUT",
                "exchanges",
                self.rabbit.vhost,
                exchange.name,
                body={"type": exchange.type, "durable": False, "internal": exchange.internal, "arguments": arguments},
            )
        for queue in self.topology.queues:
            self.channel.queue_declare(
                queue, durable=True, auto_delete=False
            )  # 4.3 refuses transient non-exclusive queues
        for b in self.topology.bindings:
            if b.destination_type == "queue":
                self.channel.queue_bind(b.destination, b.source, b.routing_key, arguments=dict(b.arguments))
            else:
                self.channel.exchange_bind(b.destination, b.source, b.routing_key, arguments=dict(b.arguments))
        for p in self.topology.policies:
            body = {
                "pattern": p.pattern,
                "apply-to": p.apply_to,
                "priority": p.priority,
                "definition": {"alternate-exchange": p.alternate},
            }
            self.http("PUT", "policies", self.rabbit.vhost, p.name, body=body)
        self.channel.confirm_select()

    def snapshot(self) -> VhostSnapshot:
        """Read back as live mode does, once every exchange shows the policy we expect."""
        vhost = self.rabbit.vhost

        def listing(kind: str, columns: str) -> list[dict[str, Any]]:
            return self.rabbit.session.get(
                self.rabbit._url(kind, vhost), params={"columns": columns}, timeout=60
            ).json()

        policies = self.http("GET", "policies", vhost)
        # The simulator follows the broker's version, as live mode does (routing/semantics.py).
        version = self.rabbit.call("GET", "overview").json()["rabbitmq_version"]

        def read() -> VhostSnapshot | None:
            snap = vhost_snapshot(
                vhost,
                exchanges=listing("exchanges", EXCHANGE_COLUMNS),
                queues=listing("queues", QUEUE_COLUMNS),
                bindings=listing("bindings", BINDING_COLUMNS),
                policies=policies,
                broker_version=version,
            )
            settled = all(e.policy == expected_policy(snap, e.name) for e in snap.exchanges if e.name)
            return snap if settled else None

        return wait_for(read, timeout=60, message="policies to apply to every exchange as we compute them")

    def deliveries(self, messages: list[TMessage]) -> list[set[str]]:
        for i, message in enumerate(messages):
            amqp_message = amqp.Message(b"x", message_id=str(i), application_headers=dict(message.headers))
            self.channel.basic_publish(amqp_message, message.exchange, message.routing_key)
        reached: list[set[str]] = [set() for _ in messages]
        for queue in self.topology.queues:
            while (got := self.channel.basic_get(queue, no_ack=True)) is not None:
                reached[int(got.properties["message_id"])].add(queue)
        return reached


def expected_policy(snapshot: VhostSnapshot, name: str) -> str | None:
    from visualiser.model.policies import effective_policy

    policy = effective_policy(snapshot.policies, name, "exchange")
    return policy.name if policy else None


def without_policy_names(snapshot: VhostSnapshot) -> VhostSnapshot:
    """As a definitions export sees it: no policy attribution, we match the patterns ourselves."""
    from visualiser.model.policies import resolve_policies

    return resolve_policies(replace(snapshot, exchanges=tuple(replace(e, policy=None) for e in snapshot.exchanges)))


@dataclass
class Lab:
    """The throwaway vhost and one AMQP connection into it."""

    rabbit: Rabbit
    connection: amqp.Connection


def disagreements(lab: Lab, topology: Topology, messages: list[TMessage]) -> list[tuple[TMessage, set[str], list[str]]]:
    with Broker(lab, topology) as broker:
        snapshot = broker.snapshot()
        actual = broker.deliveries(messages)
    found = []
    for message, got in zip(messages, actual, strict=True):
        for snap in (snapshot, without_policy_names(snapshot)):
            result = route(snap, message.exchange, message.routing_key, dict(message.headers))
            if set(result.queues) != got or result.status == "unsupported":
                found.append((message, got, result.queues))
                break
    return found


# ---- shrinking ------------------------------------------------------------------------------------


def smaller_topologies(t: Topology):
    for i in range(len(t.bindings)):
        yield replace(t, bindings=t.bindings[:i] + t.bindings[i + 1 :])
    for i in range(len(t.policies)):
        yield replace(t, policies=t.policies[:i] + t.policies[i + 1 :])
    for i, e in enumerate(t.exchanges):
        if e.alternate:
            yield replace(t, exchanges=t.exchanges[:i] + (replace(e, alternate=None),) + t.exchanges[i + 1 :])
        if e.internal:
            yield replace(t, exchanges=t.exchanges[:i] + (replace(e, internal=False),) + t.exchanges[i + 1 :])


def smaller_messages(m: TMessage):
    for i in range(len(m.headers)):
        yield replace(m, headers=m.headers[:i] + m.headers[i + 1 :])
    if m.routing_key:
        yield replace(m, routing_key="")


def shrink(lab: Lab, topology: Topology, message: TMessage, budget: int = 60) -> tuple[Topology, TMessage]:
    """Greedy: drop one thing at a time while the broker and the simulator still disagree."""
    improved = True
    while improved and budget > 0:
        improved = False
        candidates = [(t, message) for t in smaller_topologies(topology)]
        candidates += [(topology, m) for m in smaller_messages(message)]
        for t, m in candidates:
            budget -= 1
            if disagreements(lab, t, [m]):
                topology, message, improved = t, m, True
                break
            if budget <= 0:
                break
    return tidy(topology, message), message


def tidy(t: Topology, m: TMessage) -> Topology:
    """Leave out exchanges and queues that nothing refers to: they cannot change the answer."""
    named = {m.exchange, m.routing_key, *(k for _, v in m.headers if isinstance(v, list) for k in v)}
    named |= {b.source for b in t.bindings} | {b.destination for b in t.bindings}
    named |= {e.alternate for e in t.exchanges} | {p.alternate for p in t.policies}
    return replace(
        t, exchanges=tuple(e for e in t.exchanges if e.name in named), queues=tuple(q for q in t.queues if q in named)
    )


# ---- the test --------------------------------------------------------------------------------------


@pytest.fixture
def lab(rabbit: Rabbit) -> Iterator[Lab]:
    connection = amqp.Connection(
        host=BROKER.amqp_host, userid="guest", password="guest", virtual_host=rabbit.vhost, connect_timeout=30
    )
    connection.connect()
    yield Lab(rabbit, connection)
    connection.close()


def test_simulator_agrees_with_rabbitmq(lab: Lab) -> None:
    rng = random.Random(SEED)
    cases = 0
    for number in range(TOPOLOGIES):
        topology = random_topology(rng)
        messages = [random_message(rng, topology) for _ in range(MESSAGES_PER_TOPOLOGY)]
        found = disagreements(lab, topology, messages)
        cases += len(messages)
        if found:
            message, got, simulated = found[0]
            small_t, small_m = shrink(lab, topology, message)
            small = disagreements(lab, small_t, [small_m])
            verdict = f"broker {sorted(small[0][1])}, simulator {small[0][2]}" if small else "(did not reproduce)"
            pytest.fail(
                f"seed {SEED}, topology #{number}: {len(found)} disagreement(s). Smallest found:\n"
                f"{small_t.describe()}\nmessage: {small_m}\n{verdict}\n"
                f"(original message {message}: broker {sorted(got)}, simulator {simulated})"
            )
    assert cases == TOPOLOGIES * MESSAGES_PER_TOPOLOGY
