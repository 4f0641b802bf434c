"""Benchmark settings: production-like, plus the baseline view's URL.

Only ``bench/`` uses this module; the baseline URL never exists in production.
"""

from joopang.settings.base import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["*"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
