"""Settings of the app processes the fault tests start (gunicorn, Celery, the receiver).

Production-like where the faults matter: DEBUG off, PostgreSQL through Django's psycopg
pool (as in production, so the test shows the pool reconnecting after a restart), Redis
cache and broker. Shorter than production where waiting would only cost CI time: the beat
sweeps run every second or two, the relay's lease and back-off are seconds, the pool gives
up on a dead server after 2 s, and passwords hash with MD5 (test data only).
"""

from joopang.settings.base import *  # noqa: F403
from joopang.settings.base import CELERY_BEAT_SCHEDULE, DATABASES, LOGGING

DEBUG = False
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"
LOGGING["loggers"]["django_structlog"]["level"] = "WARNING"

# Seconds, not tens of seconds: a fault test waits for these.
for _name, _seconds in {
    "inventory-reservations-expire-sweep": 2,
    "orders-expire-due": 2,
    "orders-payments-settle": 2,
    "payments-charges-settle": 2,
    "integrations-relay-sweep": 1,
}.items():
    CELERY_BEAT_SCHEDULE[_name] = {**CELERY_BEAT_SCHEDULE[_name], "schedule": _seconds}
CELERY_BEAT_SCHEDULE["integrations-relay-sweep"]["options"] = {"expires": 1}
for _name in ("catalog-popularity-refresh", "payments-wallets-reconcile", "analytics-aggregates-refresh"):
    CELERY_BEAT_SCHEDULE.pop(_name, None)

if "pool" in DATABASES["default"].get("OPTIONS", {}):
    DATABASES["default"]["OPTIONS"]["pool"]["timeout"] = 2
