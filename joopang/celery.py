"""The Celery application. Tasks live in ``apps/<domain>/tasks.py``."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "joopang.settings.dev")

app = Celery("joopang")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**kwargs: object) -> None:
    """Workers log through Django's LOGGING (structlog JSON), not Celery's own format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _install_structlog_step() -> None:
    # django-structlog carries the request_id of the request that queued a task into the
    # worker's log lines.
    from django_structlog.celery.steps import DjangoStructLogInitStep

    app.steps["worker"].add(DjangoStructLogInitStep)


_install_structlog_step()
