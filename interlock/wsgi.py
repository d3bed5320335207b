"""WSGI entry point."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interlock.settings")
application = get_wsgi_application()

from interlock.gcsettle import settle_gc  # noqa: E402 - after start-up

settle_gc()
