#!/bin/sh
# Container entrypoint for web, worker and beat.
#
#  1. waits until the database accepts connections (DATABASE_URL; DB_WAIT_SECONDS, default 60;
#     WAIT_FOR_DB=0 skips the wait),
#  2. applies migrations when RUN_MIGRATIONS=1 (compose sets it on the web service only, so
#     exactly one container migrates; worker and beat start after web is healthy),
#  3. makes sure the Prometheus multi-process folder exists,
#  4. execs the command (gunicorn, celery ...), which then receives signals directly.
set -eu

log() {
    printf '%s entrypoint: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

if [ "${WAIT_FOR_DB:-1}" = "1" ]; then
    if [ -z "${DATABASE_URL:-}" ]; then
        log "DATABASE_URL is not set: using the embedded SQLite file under ${VAR_DIR:-var/} (not for production)"
    else
        log "waiting for the database (up to ${DB_WAIT_SECONDS:-60}s)"
        # No connection pool for this probe: one plain connection per attempt.
        DB_POOL=0 python - <<'PY'
import os
import sys
import time

import django

django.setup()

from django.db import connection  # noqa: E402

deadline = time.monotonic() + int(os.environ.get("DB_WAIT_SECONDS", "60"))
while True:
    try:
        connection.ensure_connection()
        connection.close()
        break
    except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
        connection.close()
        if time.monotonic() >= deadline:
            sys.exit(f"entrypoint: database not reachable: {type(exc).__name__}: {exc}")
        time.sleep(1)
PY
        log "database is up"
    fi
fi

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
    log "applying migrations"
    python manage.py migrate --noinput
fi

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "${PROMETHEUS_MULTIPROC_DIR}"
fi

log "starting: $*"
exec "$@"
