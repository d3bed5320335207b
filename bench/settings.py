"""Settings of the benchmark server only: the product's settings plus the naive baseline app.

``python -m bench ingest`` runs gunicorn with ``DJANGO_SETTINGS_MODULE=bench.settings``; the
product (``interlock.settings``) never installs ``bench.naive``.
"""

from interlock.settings import *  # noqa: F403
from interlock.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.naive"]
ROOT_URLCONF = "bench.urls"
