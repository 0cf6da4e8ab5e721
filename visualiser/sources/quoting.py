"""Quoting what a broker (or anything posing as one) says inside our own messages.

A header, an error reason, a number or a name from the network may be kilobytes long and
may hold line breaks, terminal escapes or bidirectional overrides. Put whole into a status
line, a log line or a page banner, it floods it, forges lines after it, or reverses the
sentence it sits in. Every broker-supplied string that enters an error message goes
through ``broker_text`` first: cut to a length, and every character that is not plainly
printable shown as a Python-style escape (``\\n``, ``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

DEFAULT_LIMIT = 200


def broker_text(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """``value`` as text fit to quote: at most ``limit`` characters of it, invisible ones escaped,
    and how much was left out."""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an integer past Python's 4,300-digit conversion limit
        return "(a number too long to show)"
    kept = text[:limit]
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in kept)
    if len(text) > limit:
        shown += f"… ({len(text) - limit:,} more characters)"
    return shown
