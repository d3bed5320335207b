#!/usr/bin/env python
"""Django's command-line utility for Interlock.

Management commands default to development (``DEBUG=1``) so that ``python manage.py …``
works in a fresh checkout. What serves traffic does not: ``interlock/wsgi.py`` and the
Celery app keep ``DEBUG`` off unless the environment sets it. Set ``DEBUG=0`` (and a
``SECRET_KEY``) to run commands with production settings.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interlock.settings")
    os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
