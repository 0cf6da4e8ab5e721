"""Stuck-queue diagnostics: rules over each vhost's topology and recent depth history.

``history`` keeps a bounded per-queue depth series, ``rules`` turns one poll's data into
issues, ``tracker`` gives each finding a stable ``since`` and clears it when its condition
clears, and ``feature`` plugs it all into the hub, the JSON API and the sockets. Nothing
is imported here, so that reading the settings (``thresholds``) stays cheap.
"""
