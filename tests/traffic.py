"""Real message traffic for the tests: a publisher and an acking consumer on a real broker."""

from __future__ import annotations

import threading

from kombu import Connection
from kombu import Queue as KombuQueue


class BusyQueue:
    """Real traffic: a publisher sending to ``amq.direct`` every 50 ms and a consumer acking
    each message, until ``quiet()``."""

    def __init__(self, url: str, queue: str, key: str) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._publish, args=(url, key), daemon=True),
            threading.Thread(target=self._consume, args=(url, queue), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _publish(self, url: str, key: str) -> None:
        with Connection(url) as connection:
            producer = connection.Producer()
            while not self._stop.wait(0.05):
                producer.publish(b"tick", exchange="amq.direct", routing_key=key)

    def _consume(self, url: str, queue: str) -> None:
        with Connection(url) as connection:
            consumer = connection.Consumer(KombuQueue(queue, no_declare=True), callbacks=[lambda _, m: m.ack()])
            with consumer:
                while not self._stop.is_set():
                    try:
                        connection.drain_events(timeout=0.2)
                    except TimeoutError:
                        continue

    def quiet(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
