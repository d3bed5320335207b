"""``manage.py demo_scenario N``: play seed scenario N on the running demo.

Start the demo first (``make demo``), then in another terminal ``manage.py demo_scenario 2``
(``--list`` shows them all). The scenario's player (``connectors.simulators.scenarios.sN``)
acts as the plant systems and people would: it posts events with the demo's system keys
(``<var>/sim/keys.json``, written by the demo), drives the simulators through their control
endpoints, decides approvals with a demo login, and prints every step with the admin pages
to watch. It never writes Interlock's database itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from connectors.simulators.scenarios import SCENARIOS, ScenarioFailed, Stage, scenario

from .demo import SIMULATOR_PORTS


class Command(BaseCommand):
    help = "Play seed scenario N (DOMAIN.md) on the running demo; --list shows them."

    def add_arguments(self, parser):
        parser.add_argument("number", nargs="?", type=int, help="Scenario number.")
        parser.add_argument("--list", action="store_true", help="List the scenarios.")
        parser.add_argument("--plant", default="P1", help="Demo plant to play at (P1).")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("INTERLOCK_DEMO_PORT") or 8000)
        )
        parser.add_argument(
            "--sim-port", type=int, default=int(os.environ.get("INTERLOCK_DEMO_SIM_PORT") or 8101)
        )
        parser.add_argument("--timeout", type=float, default=90.0, help="Seconds per step.")
        parser.add_argument(
            "--keys-file", default=None, help="Default: <INTERLOCK_VAR_DIR>/sim/keys.json."
        )

    def handle(self, *args, number, list: bool, plant, host, port, sim_port, timeout, **options):
        if list or number is None:
            for n, module in SCENARIOS.items():
                self.stdout.write(
                    f"{n}  {module.TITLE}  (pack {module.RULE_PACK}; {', '.join(module.SYSTEMS)})"
                )
            if number is None and not list:
                raise CommandError("give a scenario number (see the list above)")
            return
        try:
            module = scenario(number)
        except KeyError as exc:
            raise CommandError(exc.args[0]) from None
        keys_file = Path(options["keys_file"] or Path(settings.VAR_DIR) / "sim" / "keys.json")
        if not keys_file.exists():
            raise CommandError(f"{keys_file} does not exist: start the demo first (make demo)")
        keys = {k: v for k, v in json.loads(keys_file.read_text()).items() if k[0] != "_"}
        stage = Stage(
            interlock_url=f"http://{host}:{port}",
            sim_urls={
                name: f"http://{host}:{sim_port + offset}/{name}"
                for name, offset in SIMULATOR_PORTS.items()
            },
            keys=keys,
            users=demo_passwords(),
            plant=plant,
            timeout=timeout,
            out=lambda line: (self.stdout.write(line), self.stdout.flush()),
        )
        self.stdout.write(self.style.MIGRATE_HEADING(f"Scenario {number}: {module.TITLE}"))
        try:
            played = module.play(stage)
        except ScenarioFailed as exc:
            raise CommandError(f"scenario {number} stopped: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"Scenario {number} played."))
        for label, url in played.links.items():
            self.stdout.write(f"  {label:<14} {url}")


def demo_passwords() -> dict[str, str]:
    """Every demo login with the demo password (the players decide as these people)."""
    import yaml

    path = Path(settings.BASE_DIR) / "fixtures" / "demo" / "users.yaml"
    users = yaml.safe_load(path.read_text(encoding="utf-8"))["users"]
    return {u["username"]: settings.INTERLOCK_DEMO_PASSWORD for u in users}
