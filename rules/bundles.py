"""Environment promotion: rule sets and their versions as a bundle with a content hash.

A bundle is a JSON document (stable key order, so it diffs well in git)::

    {"format": "interlock.rules.bundle/v1",
     "content_hash": "sha256:…",             # over "rulesets" only (see content_hash())
     "exported_at": "…", "exported_from": "…", "versions": "live",
     "rulesets": [{"key": "quality-gates", "description": "…",
                   "versions": [{"number": 3, "plant": null, "state": "published",
                                 "live_at": ["global"], "source": "…yaml…",
                                 "source_sha256": "…"}]}]}

:func:`bundle_export` writes the live versions (global defaults and plant overrides; or
every version with ``versions="all"``). :func:`bundle_import` checks the format and the
hash (a bundle edited by hand or cut short is refused), compiles every source, and then
creates each version as a **draft** through ``rules.services.ruleset_version_create``,
authored by the importing person. Nothing is approved or published by an import: the
drafts go through the same four-eyes review as any change (submit, approve by someone
else, publish). All or nothing: one bad version and nothing is imported. A version whose
text is already the latest of its rule set (and plant) in this environment is skipped, so
importing the same bundle twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from interlock.errors import DomainError, ErrorDetail
from plants.models import Plant

from . import services
from .compiler import compile_ruleset
from .errors import RuleSetInvalid
from .models import Activation, RuleSet, RuleSetVersion

FORMAT = "interlock.rules.bundle/v1"
VERSION_CHOICES = ("live", "all")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(rulesets: list[dict[str, Any]]) -> str:
    """``sha256:`` of the canonical JSON of ``rulesets`` (sorted keys, no whitespace): what
    the bundle carries, independent of when or where it was exported."""
    canonical = json.dumps(rulesets, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + _sha256(canonical)


def _live_at(version_ids: set[int]) -> dict[int, list[str]]:
    where: dict[int, list[str]] = {}
    for version_id, plant_code in Activation.objects.filter(version_id__in=version_ids).values_list(
        "version_id", "plant__code"
    ):
        where.setdefault(version_id, []).append(plant_code or "global")
    return {k: sorted(v) for k, v in where.items()}


def bundle_export(
    *, keys: list[str] | None = None, versions: str = "live", origin: str = ""
) -> dict[str, Any]:
    """The bundle of rule sets ``keys`` (default: every rule set with something to export)."""
    if versions not in VERSION_CHOICES:
        raise DomainError(
            message=f"versions must be one of {', '.join(VERSION_CHOICES)}", code="invalid_choice"
        )
    rulesets = RuleSet.objects.order_by("key")
    if keys:
        unknown = sorted(
            set(keys) - set(rulesets.filter(key__in=keys).values_list("key", flat=True))
        )
        if unknown:
            raise DomainError(
                message=f"no rule set {', '.join(unknown)}",
                code="unknown_ruleset",
                details=[ErrorDetail(path="ruleset", code="unknown", message=k) for k in unknown],
                http_status=404,
            )
        rulesets = rulesets.filter(key__in=keys)
    qs = RuleSetVersion.objects.select_related("ruleset", "plant").order_by("number")
    if versions == "live":
        qs = qs.filter(pk__in=Activation.objects.values("version_id"))
    by_ruleset: dict[int, list[RuleSetVersion]] = {}
    for version in qs.filter(ruleset__in=rulesets):
        by_ruleset.setdefault(version.ruleset_id, []).append(version)
    live = _live_at({v.pk for vs in by_ruleset.values() for v in vs})
    out = []
    for ruleset in rulesets:
        found = by_ruleset.get(ruleset.pk)
        if not found:
            continue
        out.append(
            {
                "key": ruleset.key,
                "description": ruleset.description,
                "versions": [
                    {
                        "number": v.number,
                        "plant": v.plant.code if v.plant_id else None,
                        "state": v.state,
                        "live_at": live.get(v.pk, []),
                        "source": v.source,
                        "source_sha256": _sha256(v.source),
                    }
                    for v in found
                ],
            }
        )
    return {
        "format": FORMAT,
        "content_hash": content_hash(out),
        "exported_at": timezone.now().isoformat(),
        "exported_from": origin,
        "versions": versions,
        "rulesets": out,
    }


def bundle_dumps(bundle: dict[str, Any]) -> str:
    """The bundle as text for a file in git: indented, sorted keys, trailing newline."""
    return json.dumps(bundle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass
class ImportedVersion:
    ruleset: str
    plant: str | None
    source_number: int
    action: str  # created | skipped
    version: str | None = None  # label of the new draft
    note: str = ""


@dataclass
class ImportResult:
    content_hash: str
    dry_run: bool
    versions: list[ImportedVersion] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "content_hash": self.content_hash,
            "dry_run": self.dry_run,
            "created": sum(v.action == "created" for v in self.versions),
            "skipped": sum(v.action == "skipped" for v in self.versions),
            "versions": [v.__dict__ for v in self.versions],
        }


class BundleInvalid(DomainError):
    def __init__(self, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message=message, code="bundle_invalid", details=details or [])


def _check_shape(bundle: Any) -> list[dict[str, Any]]:
    if not isinstance(bundle, dict):
        raise BundleInvalid("a bundle is a JSON object")
    if bundle.get("format") != FORMAT:
        raise BundleInvalid(
            f"unknown bundle format {bundle.get('format')!r}",
            [
                ErrorDetail(
                    path="format",
                    code="invalid",
                    message="",
                    expected=FORMAT,
                    found=bundle.get("format"),
                )
            ],
        )
    rulesets = bundle.get("rulesets")
    problems: list[ErrorDetail] = []
    if not isinstance(rulesets, list):
        raise BundleInvalid("'rulesets' must be a list")
    for i, rs in enumerate(rulesets):
        where = f"rulesets[{i}]"
        if not isinstance(rs, dict) or not isinstance(rs.get("key"), str):
            problems.append(
                ErrorDetail(path=f"{where}.key", code="required", message="a rule set key")
            )
            continue
        versions = rs.get("versions")
        if not isinstance(versions, list) or not versions:
            problems.append(
                ErrorDetail(
                    path=f"{where}.versions", code="required", message="at least one version"
                )
            )
            continue
        for j, v in enumerate(versions):
            vwhere = f"{where}.versions[{j}]"
            if not isinstance(v, dict) or not isinstance(v.get("source"), str):
                problems.append(
                    ErrorDetail(path=f"{vwhere}.source", code="required", message="the document")
                )
                continue
            if v.get("source_sha256") and v["source_sha256"] != _sha256(v["source"]):
                problems.append(
                    ErrorDetail(
                        path=f"{vwhere}.source_sha256",
                        code="hash_mismatch",
                        message="the source does not match its hash",
                    )
                )
    if problems:
        raise BundleInvalid(f"{len(problems)} problem(s) in the bundle", problems)
    expected = bundle.get("content_hash")
    actual = content_hash(rulesets)
    if expected != actual:
        raise BundleInvalid(
            "content hash mismatch: the bundle was changed or cut short after export",
            [
                ErrorDetail(
                    path="content_hash",
                    code="hash_mismatch",
                    message="recomputed over 'rulesets'",
                    expected=actual,
                    found=expected,
                )
            ],
        )
    return rulesets


def bundle_import(*, bundle: Any, actor, dry_run: bool = False) -> ImportResult:
    """Create the bundle's versions as drafts authored by ``actor`` (see module docstring)."""
    rulesets = _check_shape(bundle)
    plants = {p.code: p for p in Plant.objects.all()}
    problems: list[ErrorDetail] = []
    planned: list[tuple[dict, dict, Plant | None, str]] = []
    for i, rs in enumerate(rulesets):
        for j, v in enumerate(sorted(rs["versions"], key=lambda v: v.get("number") or 0)):
            where = f"rulesets[{i}].versions[{j}]"
            plant = None
            if v.get("plant"):
                plant = plants.get(v["plant"])
                if plant is None:
                    problems.append(
                        ErrorDetail(
                            path=f"{where}.plant",
                            code="unknown_plant",
                            message=f"plant {v['plant']} does not exist in this environment",
                            found=v["plant"],
                        )
                    )
                    continue
            try:
                compiled = compile_ruleset(v["source"])
            except RuleSetInvalid as exc:
                problems.append(
                    ErrorDetail(path=f"{where}.source", code="ruleset_invalid", message=str(exc))
                )
                continue
            if compiled.definition.ruleset != rs["key"]:
                problems.append(
                    ErrorDetail(
                        path=f"{where}.source",
                        code="ruleset_key_mismatch",
                        message="the document names another rule set",
                        expected=rs["key"],
                        found=compiled.definition.ruleset,
                    )
                )
                continue
            planned.append((rs, v, plant, where))
    if problems:
        raise BundleInvalid(f"{len(problems)} problem(s); nothing was imported", problems)

    result = ImportResult(content_hash=bundle["content_hash"], dry_run=dry_run)
    with transaction.atomic():
        for rs, v, plant, _where in planned:
            latest = (
                RuleSetVersion.objects.filter(ruleset__key=rs["key"], plant=plant)
                .order_by("-number")
                .first()
            )
            entry = ImportedVersion(
                rs["key"], plant.code if plant else None, v.get("number") or 0, "created"
            )
            if latest is not None and latest.source == v["source"]:
                entry.action, entry.version = "skipped", latest.label
                entry.note = f"identical to {latest.label} ({latest.state})"
            elif not dry_run:
                draft = services.ruleset_version_create(
                    source=v["source"], author=actor, plant=plant
                )
                entry.version = draft.label
                entry.note = "draft: submit, approve (four eyes) and publish to make it live"
            result.versions.append(entry)
    return result


def bundle_load(text: str) -> Any:
    """Parse a bundle file, naming line and column of a syntax error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleInvalid(
            f"not JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            [ErrorDetail(path="", code="invalid_json", message=exc.msg)],
        ) from None
