"""``manage.py ledger_verify``: find ledger rows pointing at a missing row (exit code 1),
the check that stands in for the foreign-key constraints the ledger does without."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from orchestrator.services.ledger_integrity import dangling_references, unconstrained_references


class Command(BaseCommand):
    help = (
        "Check every unconstrained ledger reference (messages, events, outbox, attempts, "
        "confirmations, issues, audit records): rows pointing at a missing row exit with 1."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the result as JSON."
        )

    def handle(self, *args, as_json: bool = False, **options):
        checked = len(unconstrained_references())
        dangling = dangling_references()
        if as_json:
            self.stdout.write(
                json.dumps(
                    {"checked": checked, "dangling": [d.as_dict() for d in dangling]}, indent=2
                )
            )
        if dangling:
            lines = "; ".join(
                f"{d.model}.{d.field} → {d.target}: {d.count} rows (e.g. {', '.join(map(str, d.sample_ids))})"
                for d in dangling
            )
            raise CommandError(f"dangling ledger references: {lines}", returncode=1)
        if not as_json:
            self.stdout.write(f"ledger references intact: {checked} references checked")
