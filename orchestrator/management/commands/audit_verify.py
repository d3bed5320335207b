"""``manage.py audit_verify``: seal what is unsealed, recompute the audit hash chain, and
report the first broken link (exit code 1), or the verified head (exit code 0)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from orchestrator.services.audit_chain import audit_verify_and_alert


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain: seals unsealed records, recomputes every hash "
        "and reports the first edited, deleted or truncated record (exit code 1)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the result as JSON."
        )

    def handle(self, *args, as_json: bool = False, **options):
        result = audit_verify_and_alert()
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": result.ok,
                        "checked": result.checked,
                        "head_seq": result.head_seq,
                        "head_hash": result.head_hash,
                        "unsealed": result.unsealed,
                        "broken": result.broken.as_dict() if result.broken else None,
                    },
                    indent=2,
                )
            )
        if result.broken is not None:
            raise CommandError(
                f"audit trail broken at {result.broken.chain_seq} "
                f"({result.broken.kind}): {result.broken.message}",
                returncode=1,
            )
        if not as_json:
            self.stdout.write(
                f"audit trail intact: {result.checked} records, head {result.head_seq} "
                f"({result.head_hash})"
            )
