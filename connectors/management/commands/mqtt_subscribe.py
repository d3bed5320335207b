"""``manage.py mqtt_subscribe``: run the MQTT / Sparkplug B host application.

Connects to the broker (``INTERLOCK_MQTT_HOST``/``INTERLOCK_MQTT_PORT`` or the options),
subscribes to ``spBv1.0/<group>/#`` for each group (``INTERLOCK_MQTT_GROUPS``, default all)
with a persistent session and QoS 1, and feeds NDATA/DDATA metrics through the plant
metric mappings into the ingest pipeline. Reconnects by itself when the broker goes away;
stop it with Ctrl-C or SIGTERM. See ``connectors/inbound/sparkplug/__init__.py``.
"""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from connectors.inbound.sparkplug import SparkplugHost


class Command(BaseCommand):
    help = "Subscribe to Sparkplug B edge nodes over MQTT and ingest their metrics as events."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.INTERLOCK_MQTT_HOST)
        parser.add_argument("--port", type=int, default=settings.INTERLOCK_MQTT_PORT)
        parser.add_argument("--host-id", default=settings.INTERLOCK_MQTT_HOST_ID)
        parser.add_argument(
            "--group", action="append", dest="groups", help="Sparkplug group id (repeatable)"
        )

    def handle(self, *args, host, port, host_id, groups, **options):
        subscriber = SparkplugHost(
            host=host, port=port, host_id=host_id, groups=groups or settings.INTERLOCK_MQTT_GROUPS
        )
        signal.signal(signal.SIGTERM, lambda *_: subscriber.stop())
        self.stdout.write(f"Sparkplug B host {host_id} on mqtt://{host}:{port}")
        try:
            subscriber.run_forever()
        except KeyboardInterrupt:
            subscriber.stop()
