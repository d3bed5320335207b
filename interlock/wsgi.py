"""WSGI entry point."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interlock.settings")
application = get_wsgi_application()
gc.freeze()  # start-up's objects out of the collector's reach (see interlock/asgi.py)
