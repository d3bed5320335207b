"""``manage.py simulate erp|mes|qms [options]``: run one simulator in this process.

The same as ``python -m connectors.simulators.<name>`` (which the demo uses: it starts
faster, without Django); every option after the name goes to the simulator, e.g.
``manage.py simulate erp --port 8101 --release-every 30`` or ``manage.py simulate mes --help``.
"""

from __future__ import annotations

import importlib

from django.core.management.base import BaseCommand, CommandError

from connectors.simulators import SIMULATORS


class Command(BaseCommand):
    help = "Run an ERP, MES or QMS simulator (options after the name: see `simulate NAME --help`)."

    def add_arguments(self, parser):
        parser.add_argument("simulator", choices=SIMULATORS)
        parser.add_argument("options", nargs="*", help="Options of the simulator.")

    def run_from_argv(self, argv):
        # The simulator parses its own options (Django's parser would reject them).
        if len(argv) > 2 and argv[2] in SIMULATORS:
            self.run_simulator(argv[2], argv[3:])
            return
        super().run_from_argv(argv)

    def handle(self, *args, simulator: str, options: list[str], **kwargs):
        self.run_simulator(simulator, options)

    def run_simulator(self, name: str, argv: list[str]) -> None:
        if name not in SIMULATORS:
            raise CommandError(f"unknown simulator {name!r}; one of {', '.join(SIMULATORS)}")
        importlib.import_module(f"connectors.simulators.{name}").main(argv)
