"""The Celery application. Tasks are thin: they load by id and call one service."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interlock.settings")

app = Celery("interlock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every line a task logs carries its task id, name and the ids it was called with.
from interlock.logging import connect_celery_signals  # noqa: E402

connect_celery_signals()


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender, **kwargs) -> None:
    # kombu's filesystem transport (the embedded default) fails when its folders are missing.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


@app.task(name="interlock.ping", acks_late=True)
def ping(value: str = "pong") -> str:
    """Round-trip check used by health checks and the broker-delivery test."""
    return value
