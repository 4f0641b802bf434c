"""One place to ask for the time, so tests and services agree on "now" (always UTC)."""

import datetime as dt

from django.utils import timezone


def now() -> dt.datetime:
    return timezone.now()
