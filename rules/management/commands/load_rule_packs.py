"""``manage.py load_rule_packs``: publish the shipped rule packs (``rules/packs/*.yaml``).

Each pack becomes a published *global* version, authored by one governance-board member
and approved by another (four eyes, through the same services as the admin and API).
Idempotent: a pack already loaded with the same text is unchanged, and a rule set the
board has changed since is kept as they left it (``--force`` publishes the shipped text
again as a new version). The demo seed calls it after the users exist::

    call_command("load_rule_packs")  # authors board1, approver board2
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from interlock.errors import DomainError
from rules.services import rule_pack_load, rule_pack_paths


class Command(BaseCommand):
    help = "Publish the shipped rule packs as global versions (idempotent, four eyes)."

    def add_arguments(self, parser):
        parser.add_argument("--author", default="board1", help="Governance-board author.")
        parser.add_argument(
            "--approver", default="board2", help="Governance-board approver (not the author)."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Publish the shipped text even where the board has changed the rule set.",
        )
        parser.add_argument(
            "packs", nargs="*", type=Path, help="Pack files (default: every rules/packs/*.yaml)."
        )

    def handle(self, *args, author: str, approver: str, force: bool, packs, verbosity, **kw):
        users = get_user_model()._default_manager
        try:
            author_user = users.get(username=author)
            approver_user = users.get(username=approver)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(
                f"{exc}: the author ({author}) and approver ({approver}) must exist and hold "
                "the governance_board role (run seed_demo first, or pass --author/--approver)"
            ) from None
        if author_user.pk == approver_user.pk:
            raise CommandError("the approver must not be the author (four eyes)")
        outcomes = []
        for path in packs or rule_pack_paths():
            try:
                outcome = rule_pack_load(
                    source=path.read_text(encoding="utf-8"),
                    author=author_user,
                    approver=approver_user,
                    force=force,
                )
            except DomainError as exc:
                details = "".join(f"\n  {d.message}" for d in exc.details)
                raise CommandError(f"{path.name}: {exc.message}{details}") from None
            outcomes.append(outcome)
            if verbosity >= 2:
                self.stdout.write(f"  {outcome.ruleset:24} {outcome.status:9} {outcome.version}")
        self.outcomes = outcomes  # read by tests and by seed_demo's summary
        if verbosity >= 1:
            counts = {s: sum(o.status == s for o in outcomes) for s in ("created", "unchanged")}
            kept = sum(o.status == "kept" for o in outcomes)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Rule packs: {counts['created']} published, {counts['unchanged']} "
                    f"unchanged, {kept} kept as changed by the board."
                )
            )
