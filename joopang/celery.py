"""The Celery application. Tasks live in ``apps/<domain>/tasks.py``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "joopang.settings.dev")

app = Celery("joopang")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
