"""``manage.py outbox_watch``: is delivery keeping up? One line every ``--every`` seconds.

Each line gives the outbox rows by status (pending / in flight / delivered / dead), what was
delivered since the previous line, the delivery lag (written → delivered) of those rows
(median and worst), the age of the oldest row still waiting, and the broker's queue depth
(tasks waiting for a worker; ETA tasks a worker already holds are not counted)::

    time      pending in_flight delivered dead  +deliv  lag_p50  lag_max  oldest  queue
    10:14:05        3         0      1204    0     +31     0.8s     2.1s    0.4s      1

It reads PostgreSQL / SQLite and the broker only; run it next to ``make demo`` (same
environment) or against production settings. ``--for`` stops after that many seconds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils import timezone

from orchestrator.models.outbox import OutboxMessage, OutboxStatus


@dataclass
class Sample:
    at: float
    counts: dict[str, int]
    delivered_since: int
    lag_p50: float | None
    lag_max: float | None
    oldest_waiting: float | None
    queue: int | None

    def line(self) -> str:
        def secs(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}s"

        c = self.counts
        return (
            f"{time.strftime('%H:%M:%S', time.localtime(self.at))}  "
            f"{c.get(OutboxStatus.PENDING, 0):>7} {c.get(OutboxStatus.IN_FLIGHT, 0):>9} "
            f"{c.get(OutboxStatus.DELIVERED, 0):>9} {c.get(OutboxStatus.DEAD, 0):>4}  "
            f"{'+' + str(self.delivered_since):>6}  {secs(self.lag_p50):>7}  "
            f"{secs(self.lag_max):>7}  {secs(self.oldest_waiting):>6}  "
            f"{'?' if self.queue is None else self.queue:>5}"
        )


HEADER = "time      pending in_flight delivered dead  +deliv  lag_p50  lag_max  oldest  queue"


def broker_queue_depth(queue: str | None = None, app=None) -> int | None:
    """Messages waiting in the broker queue (Redis list length, files in the filesystem
    broker's folder); ``None`` when the broker does not answer."""
    if app is None:
        from interlock.celery import app

    name = queue or app.conf.task_default_queue
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            return conn.default_channel.queue_declare(queue=name, passive=True).message_count
    except Exception:
        return None


def sample(since: object | None) -> tuple[Sample, object]:
    """The outbox now, and the delivery lag of rows delivered after ``since``."""
    now = timezone.now()
    counts = dict(OutboxMessage.objects.values_list("status").annotate(n=Count("id")).order_by())
    delivered = OutboxMessage.objects.filter(status=OutboxStatus.DELIVERED)
    if since is not None:
        delivered = delivered.filter(delivered_at__gt=since)
    pairs = list(delivered.values_list("created_at", "delivered_at")) if since else []
    lags = [(done - made).total_seconds() for made, done in pairs if done and made]
    oldest = (
        OutboxMessage.objects.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT])
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return (
        Sample(
            at=time.time(),
            counts=counts,
            delivered_since=len(lags),
            lag_p50=statistics.median(lags) if lags else None,
            lag_max=max(lags) if lags else None,
            oldest_waiting=(now - oldest).total_seconds() if oldest else None,
            queue=broker_queue_depth(),
        ),
        now,
    )


class Command(BaseCommand):
    help = (
        "Every few seconds: outbox rows by status, delivery lag, oldest waiting row and the "
        "broker's queue depth (is delivery keeping up?)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=10.0, help="Seconds between lines.")
        parser.add_argument(
            "--for", dest="duration", type=float, default=0.0, help="Stop after (0: never)."
        )

    def handle(self, *args, every: float, duration: float, **options):
        self.stdout.write(HEADER)
        started = time.monotonic()
        since = timezone.now()
        try:
            while True:
                row, since = sample(since)
                self.stdout.write(row.line())
                self.stdout.flush()
                if duration and time.monotonic() - started + every > duration:
                    return
                time.sleep(max(0.1, every))
        except KeyboardInterrupt:
            return
