"""The Celery application. Tasks are thin: they load by id and call one service."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interlock.settings")

app = Celery("interlock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="interlock.ping", acks_late=True)
def ping(value: str = "pong") -> str:
    """Round-trip check used by health checks and the broker-delivery test."""
    return value
