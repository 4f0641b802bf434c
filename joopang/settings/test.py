"""Test settings: the same stack as dev, made fast and deterministic."""

from joopang.settings.base import *  # noqa: F403
from joopang.settings.base import CACHES, REDIS_URL

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
LOG_FORMAT = "console"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
if REDIS_URL:
    # Tests on a shared Redis keep to their own key space.
    CACHES["default"]["KEY_PREFIX"] = "joopang-test"
