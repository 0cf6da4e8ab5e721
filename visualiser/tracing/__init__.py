"""Firehose tracing: each message's real path through the broker, checked against the simulator.

RabbitMQ's firehose copies every message published in a traced vhost to the topic exchange
``amq.rabbitmq.trace`` as ``publish.<exchange>`` (with the queues it was routed to) and
every delivery as ``deliver.<queue>``. The pure parts live here: reading those copies
(``decode``), comparing the broker's routing with the simulator's (``compare``), and one
vhost's trace as the page sees it (``session``, ``activity``). ``tracer`` runs traces: it
starts and stops them on request, on a timer, when the last page watching leaves and when
the service stops; the broker side (the vhost's tracing flag and the consumer of the
service's own trace queue) is ``visualiser.tracing.firehose``.
"""
