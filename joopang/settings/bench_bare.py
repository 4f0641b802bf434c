"""Benchmark settings with Django's default middleware: the ``baseline_bare`` scenario.

Everything as ``joopang.settings.bench`` (the same database pool, cache, URL conf, the same
baseline view at the same URL) except ``MIDDLEWARE``, which is what ``django-admin
startproject`` generates: security, sessions, common, CSRF, authentication, messages and
clickjacking. So ``baseline`` against ``baseline_bare`` of the same run is what Joopang's
own middleware (request ids, locale and market, input guard, CSP and security headers,
structured request logs, metrics, token claims, lockouts) costs per request over a stock
Django project's floor. Only the benchmark uses this module (``bench.run`` restarts
gunicorn with it for that one scenario); never deploy it.
"""

from joopang.settings.bench import *  # noqa: F403

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
