"""ASGI entry point (``uvicorn interlock.asgi:application``): Django, with the lean path
for single events in front of it (``connectors/inbound/asgi.py``)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interlock.settings")
django_application = get_asgi_application()

from connectors.inbound.asgi import IngestASGI  # noqa: E402 - needs the apps loaded

application = IngestASGI(django_application)

from interlock.gcsettle import settle_gc  # noqa: E402 - after start-up

settle_gc()  # start-up's objects frozen, the young generation collected less often
