"""Test settings: the same stack as dev, made fast and deterministic."""

from copy import deepcopy

from joopang.settings.base import *  # noqa: F403
from joopang.settings.base import CACHES, DATABASES, LOGGING, REDIS_URL

# Copies, not the base module's dicts, which another settings module imported in process
# (a test of the benchmark's settings) would otherwise share and change.
LOGGING = deepcopy(LOGGING)
CACHES = deepcopy(CACHES)
DATABASES = deepcopy(DATABASES)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
LOG_FORMAT = "console"
LOGGING["root"]["level"] = "WARNING"
if REDIS_URL:
    # Tests on a shared Redis keep to their own key space.
    CACHES["default"]["KEY_PREFIX"] = "joopang-test"

# Test databases are created and dropped per run; a pool would outlive them.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)

# Each xdist worker gets its own Redis database (1..15) so that clearing the cache between
# tests never touches another worker's keys (throttle counters, gates).
import os as _os  # noqa: E402

_worker = _os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
if REDIS_URL:
    from urllib.parse import urlsplit, urlunsplit

    _parts = urlsplit(REDIS_URL)
    _db_index = 1 + (int(_worker) if _worker.isdigit() else 0) % 15
    CACHES["default"]["LOCATION"] = urlunsplit(_parts._replace(path=f"/{_db_index}"))
