"""Benchmark settings: production-like, plus the baseline view's URL.

Only ``bench/`` uses this module (``make bench`` starts gunicorn and a Celery worker with
it); the baseline URL never exists in production because only ``bench.urls`` mounts it.
Like production: DEBUG off, PostgreSQL with the psycopg pool, Redis cache and broker, the
full middleware stack. Unlike production: no HTTPS redirects or secure cookies (plain HTTP
on 127.0.0.1), any Host accepted, and request logs at WARNING so that logging two JSON
lines per request does not compete with the server for the machine's few cores.
"""

from copy import deepcopy

from joopang.settings.base import *  # noqa: F403
from joopang.settings.env import env_str

# Copies, not the base module's dicts: a test that imports this module in process must not
# change the running settings (the request log's level, the cache's key prefix).
LOGGING = deepcopy(LOGGING)
CACHES = deepcopy(CACHES)

DEBUG = False
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["*"]
LOG_LEVEL = env_str("BENCH_LOG_LEVEL", "WARNING")
LOGGING["root"]["level"] = LOG_LEVEL
LOGGING["loggers"]["django_structlog"]["level"] = LOG_LEVEL
if REDIS_URL:
    # The benchmark's Redis database may be shared: keep to our own key space.
    CACHES["default"]["KEY_PREFIX"] = "joopang-bench"
