"""Behaviour that needs a real Redis: broker delivery to a real worker, shared cache."""

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.test import override_settings

from plants.services.mapping import MappingCache
from tests.factories import ItemFactory, ItemMappingFactory
from tests.services import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.redis


def test_task_travels_through_redis_to_a_real_worker(tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DEBUG": "1",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
        "INTERLOCK_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "interlock",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        client = Celery("interlock-test", broker=REDIS_URL, backend=REDIS_URL)
        result = client.send_task("interlock.ping", args=["over redis"], queue=queue)
        assert result.get(timeout=60) == "over redis"
        # The worker runs with the settings that make a killed worker's task come back.
        inspect = client.control.inspect(timeout=5)
        conf = inspect.conf() or {}
        worker_conf = next(iter(conf.values()), {})
        # (reported under the Django settings names, namespace CELERY_)
        assert worker_conf.get("CELERY_TASK_ACKS_LATE") is True
        assert worker_conf.get("CELERY_TASK_REJECT_ON_WORKER_LOST") is True
        assert worker_conf.get("CELERY_WORKER_PREFETCH_MULTIPLIER") == 1
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.mark.django_db
def test_mapping_change_reaches_another_process_through_redis(
    plant_p1, django_capture_on_commit_callbacks
):
    redis_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=redis_cache, INTERLOCK_MAPPING_CACHE_SECONDS=0):
        day = dt.date(2026, 3, 1)
        mapping = ItemMappingFactory(
            plant=plant_p1, plant_code="4711", item=ItemFactory(code="OLD")
        )
        reader, writer = MappingCache(), MappingCache()  # two processes' caches

        assert reader.snapshot(plant_p1.pk, "item").find("4711", day).item_code == "OLD"

        mapping.item = ItemFactory(code="NEW")
        mapping.save()
        writer.invalidate(plant_p1.pk, "item")  # what the post-save signal does after commit

        assert reader.snapshot(plant_p1.pk, "item").find("4711", day).item_code == "NEW"
