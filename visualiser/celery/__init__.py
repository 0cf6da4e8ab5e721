"""Celery on the graph: event decoding, bounded state, activity frames and the feature that wires them."""
