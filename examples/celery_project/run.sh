#!/usr/bin/env bash
# Start the example like a deployment: one worker per queue (with -E for events), beat,
# and a producer. Ctrl-C stops everything.
#   CELERY_BROKER_URL=amqp://guest:guest@localhost:5672// ./run.sh
set -euo pipefail
cd "$(dirname "$0")"
CELERY="${CELERY:-celery}"
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-amqp://guest:guest@localhost:5672//}"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM

for queue in payments emails sync reports; do
    "$CELERY" -A shop.app worker -E -n "${queue}@%h" -Q "$queue" -c 2 -l info &
    pids+=($!)
done
"$CELERY" -A shop.app beat -l info --schedule "${TMPDIR:-/tmp}/shop-beat-schedule" &
pids+=($!)
python producer.py --rate "${RATE:-2}" &
pids+=($!)
wait
