"""``manage.py rules_bundle export|import``: rule sets in git (see ``rules.bundles``).

    manage.py rules_bundle export [--ruleset KEY …] [--all-versions] [-o bundle.json]
    manage.py rules_bundle import bundle.json --author USERNAME [--dry-run]

Import creates drafts authored by ``--author``; they still need submit, a second person's
approval and publish, exactly like a change made in the admin.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from interlock.errors import DomainError
from rules import bundles


class Command(BaseCommand):
    help = "Export rule sets as a content-hashed bundle, or import one as drafts."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="write a bundle")
        export.add_argument("--ruleset", action="append", default=[], help="rule set key")
        export.add_argument("--all-versions", action="store_true", help="not only live ones")
        export.add_argument("-o", "--output", help="file (default: stdout)")
        imp = sub.add_parser("import", help="import a bundle as drafts")
        imp.add_argument("file", help="bundle file ('-' for stdin)")
        imp.add_argument("--author", required=True, help="username the drafts are authored by")
        imp.add_argument("--dry-run", action="store_true")

    def handle(self, *args, action, **options):
        try:
            if action == "export":
                self._export(**options)
            else:
                self._import(**options)
        except DomainError as exc:
            lines = [exc.message, *(f"  {d.path}: {d.message}" for d in exc.details)]
            raise CommandError("\n".join(lines)) from None

    def _export(self, *, ruleset, all_versions, output, **_):
        bundle = bundles.bundle_export(
            keys=ruleset or None, versions="all" if all_versions else "live", origin="manage.py"
        )
        text = bundles.bundle_dumps(bundle)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            count = sum(len(rs["versions"]) for rs in bundle["rulesets"])
            self.stderr.write(f"{count} version(s) written to {output} ({bundle['content_hash']})")
        else:
            self.stdout.write(text, ending="")

    def _import(self, *, file, author, dry_run, **_):
        user = get_user_model().objects.filter(username=author).first()
        if user is None:
            raise CommandError(f"no user {author!r}")
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        result = bundles.bundle_import(
            bundle=bundles.bundle_load(text), actor=user, dry_run=dry_run
        )
        data = result.as_dict()
        for v in data["versions"]:
            where = f"@{v['plant']}" if v["plant"] else ""
            self.stdout.write(
                f"{v['action']:8} {v['ruleset']}{where} {v['version'] or ''} {v['note']}"
            )
        verb = "would create" if dry_run else "created"
        self.stdout.write(json.dumps({"created": data["created"], "skipped": data["skipped"]}))
        self.stderr.write(f"{verb} {data['created']} draft(s), skipped {data['skipped']}")
