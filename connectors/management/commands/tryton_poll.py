"""``manage.py tryton_poll [--every SECONDS]``: read released productions from Tryton now
(the beat task ``connectors.poll_tryton`` does the same on a schedule)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from connectors.inbound.tryton import poll_all


class Command(BaseCommand):
    help = "Turn productions released in Tryton into production_order.released events."

    def add_arguments(self, parser):
        parser.add_argument(
            "--every", type=float, default=0.0, help="Poll again every SECONDS (0: once)."
        )

    def handle(self, *args, every: float, **options):
        failed = False
        while True:
            results = poll_all()
            if not results:
                self.stdout.write("no active Tryton source (admin → Connectors → Tryton sources)")
            for r in results:
                if r.error:
                    failed = True
                    self.stderr.write(f"{r.source}: {r.error}")
                else:
                    counts = ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items()))
                    self.stdout.write(f"{r.source}: {r.read} read{'; ' + counts if counts else ''}")
            if every <= 0:
                break
            time.sleep(every)
        if failed:
            raise SystemExit(1)
