"""Writes of the rules app: authoring, four-eyes governance, rollout, and evaluation.

Every service is keyword-only and atomic; fsm transitions only move state, the services
check permissions, save, and record a :class:`VersionDecision` (the visible audit trail;
simple-history keeps every field change besides).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from interlock.errors import Conflict, DomainError, ErrorDetail, NotAllowed
from plants.models import Plant
from plants.selectors import next_release_window

from . import event_schemas
from .choices import DecisionKind, ScheduleStatus, VersionState
from .compiler import CompiledRuleSet, Evaluation, compile_ruleset
from .models import (
    Activation,
    RuleSet,
    RuleSetVersion,
    ScheduledPublish,
    SimulationReport,
    VersionDecision,
)
from .selectors import plant_parameters
from .simulation import SimEvent, as_sim_event, compare, event_source

# --- compiled versions ------------------------------------------------------------------

_cache_lock = threading.Lock()
_compiled: dict[tuple[int, int], CompiledRuleSet] = {}


def compiled_version(version: RuleSetVersion) -> CompiledRuleSet:
    """The compiled rule set of a stored version, cached per process.

    Submitted versions never change (drafts are compiled afresh), so the cache key is the
    version id, its source (an id reused after a database reset must not answer with
    another version's rules) and the event-schema registry version.
    """
    if version.state == VersionState.DRAFT:
        return compile_ruleset(version.source, version=version.label)
    key = (version.pk, hash(version.source), event_schemas.registry_version())
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = compile_ruleset(version.source, version=version.label)
        with _cache_lock:
            _compiled[key] = compiled
    return compiled


def _decide(version, kind, actor, text="", plant=None) -> VersionDecision:
    return VersionDecision.objects.create(
        version=version, kind=kind, actor=actor, text=text, plant=plant
    )


def _require(user, perm: str, obj=None, *, alternative: str | None = None) -> None:
    """Refuse unless ``user`` holds ``perm`` (or ``alternative``) for ``obj``.

    ``obj`` scopes the check by plant (``plants.auth.PlantRoleBackend``): a plant admin
    holds the ``*_plantoverride`` permissions only for objects of their own plants.
    """
    if user is not None and user.has_perm(perm, obj):
        return
    if user is not None and alternative and user.has_perm(alternative, obj):
        return
    wanted = f"{perm} or {alternative}" if alternative else perm
    where = f" for {obj}" if obj is not None else ""
    raise NotAllowed(f"{getattr(user, 'username', user)} lacks {wanted}{where}")


def _require_for_version(user, perm: str, version: RuleSetVersion, override_perm: str) -> None:
    """``perm`` on a global version; on a plant override, ``perm`` or the plant-scoped
    ``override_perm`` (what a plant admin holds for their own plant)."""
    _require(user, perm, version, alternative=override_perm if version.plant_id else None)


# --- authoring --------------------------------------------------------------------------


@transaction.atomic
def ruleset_version_create(*, source: str, author, plant: Plant | None = None) -> RuleSetVersion:
    """Store a new draft; the document must validate and compile (``RuleSetInvalid``)."""
    if plant is not None:
        # Scoped by the plant: a plant admin authors overrides for their own plant only.
        _require(author, "rules.author_plantoverride", plant)
    else:
        _require(author, "rules.add_rulesetversion")
    compiled = compile_ruleset(source)
    ruleset, _ = RuleSet.objects.get_or_create(
        key=compiled.definition.ruleset,
        defaults={"description": compiled.definition.description},
    )
    RuleSet.objects.select_for_update().filter(pk=ruleset.pk).get()  # serialise numbering
    number = (ruleset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = RuleSetVersion(
        ruleset=ruleset, number=number, plant=plant, source=source, author=author
    )
    version.full_clean(exclude=["state"])  # protected FSM field: clean_fields would set it
    version.save()
    return version


@transaction.atomic
def ruleset_version_update(*, version: RuleSetVersion, source: str, actor) -> RuleSetVersion:
    """Replace a draft's text. Anything past draft is immutable."""
    version = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
    if version.state != VersionState.DRAFT:
        raise Conflict(
            f"{version.label} is {version.state}; only drafts can change", code="version_immutable"
        )
    if actor.pk != version.author_id:
        _require_for_version(
            actor, "rules.change_rulesetversion", version, "rules.author_plantoverride"
        )
    compiled = compile_ruleset(source)
    if compiled.definition.ruleset != version.ruleset.key:
        raise DomainError(
            message="the document's 'ruleset' key cannot change in a new version",
            code="ruleset_key_changed",
        )
    version.source = source
    version.test_results = []
    version.save(update_fields=["source", "test_results"])
    return version


@transaction.atomic
def ruleset_version_comment(*, version: RuleSetVersion, actor, text: str) -> VersionDecision:
    return _decide(version, DecisionKind.COMMENT, actor, text)


def ruleset_version_run_tests(*, version: RuleSetVersion, actor) -> list[dict[str, Any]]:
    """Run a version's embedded tests now (the "Run tests" button) and return the results.

    A draft keeps them (they show on its page until the text changes); a submitted
    version's stored results are those it was submitted with and are left alone.
    """
    if actor.pk != version.author_id:
        _require_for_version(
            actor, "rules.change_rulesetversion", version, "rules.author_plantoverride"
        )
    results = [r.__dict__ for r in compiled_version(version).run_tests()]
    if version.state == VersionState.DRAFT:
        RuleSetVersion.objects.filter(pk=version.pk, state=VersionState.DRAFT).update(
            test_results=results
        )
        version.test_results = results
    return results


@transaction.atomic
def ruleset_version_new_draft(*, version: RuleSetVersion, author) -> RuleSetVersion:
    """A new draft of the same rule set (and plant) starting from ``version``'s text."""
    return ruleset_version_create(source=version.source, author=author, plant=version.plant)


# --- governance -------------------------------------------------------------------------


def ruleset_version_submit(*, version: RuleSetVersion, actor) -> RuleSetVersion:
    """Draft → in review, only when every embedded example test passes.

    The test results are saved even when they fail (the author sees them in the admin),
    so the results are written in their own transaction before the refusal is raised.
    """
    if actor.pk != version.author_id:
        _require_for_version(
            actor, "rules.change_rulesetversion", version, "rules.author_plantoverride"
        )
    results = compiled_version(version).run_tests()
    if not results:
        raise DomainError(message="a rule set needs at least one embedded test", code="no_tests")
    version.test_results = [r.__dict__ for r in results]
    RuleSetVersion.objects.filter(pk=version.pk, state=VersionState.DRAFT).update(
        test_results=version.test_results
    )
    failed = [r for r in results if not r.passed]
    if failed:
        raise DomainError(
            message=f"{len(failed)} of {len(results)} embedded tests fail",
            code="tests_failed",
            details=[
                ErrorDetail(path=f"tests/{r.name}", code="test_failed", message=r.message)
                for r in failed
            ],
        )
    with transaction.atomic():
        version.submit()
        version.submitted_at = timezone.now()
        version.save()
        _decide(version, DecisionKind.SUBMIT, actor)
    return version


@transaction.atomic
def ruleset_version_approve(*, version: RuleSetVersion, approver, comment: str = ""):
    """In review → approved by a governance-board member who is not the author."""
    if approver.pk == version.author_id:
        raise NotAllowed("the author cannot approve their own version", code="four_eyes")
    _require(approver, "rules.approve_rulesetversion", version)
    version.approved_by = approver
    version.approve()
    version.approved_at = timezone.now()
    version.save()
    _decide(version, DecisionKind.APPROVE, approver, comment)
    return version


@transaction.atomic
def ruleset_version_reject(*, version: RuleSetVersion, reviewer, comment: str):
    _require(reviewer, "rules.approve_rulesetversion", version)
    version.reject()
    version.save()
    _decide(version, DecisionKind.REJECT, reviewer, comment)
    return version


# --- rollout ----------------------------------------------------------------------------


def _activate(version: RuleSetVersion, plant: Plant | None, actor, now) -> Activation:
    activation = (
        Activation.objects.select_for_update().filter(ruleset=version.ruleset, plant=plant).first()
    )
    if activation is None:
        return Activation.objects.create(
            ruleset=version.ruleset,
            plant=plant,
            version=version,
            activated_at=now,
            activated_by=actor,
        )
    if activation.version_id != version.pk:
        activation.previous = activation.version
        activation.version = version
        activation.activated_at = now
        activation.activated_by = actor
        activation.save()
    return activation


@transaction.atomic
def ruleset_version_publish(
    *, version: RuleSetVersion, actor, plants: list[Plant] | None = None
) -> RuleSetVersion:
    """Make an approved version live: globally (``plants=None``) or at chosen plants (canary).

    Publishing again to more plants widens a canary; publishing globally makes it the
    default and drops the canary rows that pointed at it (those plants now follow the
    default). A plant override version can only go live at its own plant.
    """
    _require_for_version(
        actor, "rules.publish_rulesetversion", version, "rules.publish_plantoverride"
    )
    version = RuleSetVersion.objects.select_for_update().get(pk=version.pk)
    if version.plant_id:
        if plants is not None and [p.pk for p in plants] != [version.plant_id]:
            raise DomainError(
                message=f"{version.label} is an override for {version.plant.code} only",
                code="wrong_plant",
            )
        plants = [version.plant]
    version.publish()
    now = timezone.now()
    version.published_at = version.published_at or now
    version.save()
    if plants is None:
        _activate(version, None, actor, now)
        Activation.objects.filter(
            ruleset=version.ruleset, plant__isnull=False, version=version
        ).delete()
        _decide(version, DecisionKind.PUBLISH, actor, "global default")
    else:
        for plant in plants:
            _activate(version, plant, actor, now)
            _decide(version, DecisionKind.PUBLISH, actor, f"plant {plant.code}", plant=plant)
    return version


@transaction.atomic
def ruleset_rollback(*, ruleset: RuleSet, plant: Plant | None, actor, reason: str) -> Activation:
    """One action: the plant (or the global default) goes back to its previous version."""
    if plant is None:
        _require(actor, "rules.publish_rulesetversion")
    else:
        _require(
            actor, "rules.publish_rulesetversion", plant, alternative="rules.publish_plantoverride"
        )
    activation = Activation.objects.select_for_update().filter(ruleset=ruleset, plant=plant).first()
    if activation is not None and activation.previous_id is None and plant is not None:
        # A canary (a plant row that never pointed elsewhere): rolling it back means the
        # plant follows the global default again. History keeps the removed row.
        default = Activation.objects.filter(ruleset=ruleset, plant__isnull=True).first()
        if default is not None:
            rolled_back = activation.version
            activation._history_user = actor
            activation.delete()
            _decide(
                rolled_back,
                DecisionKind.ROLLBACK,
                actor,
                f"{reason} (back to the global default {default.version.label})",
                plant=plant,
            )
            return default
    if activation is None or activation.previous_id is None:
        raise Conflict("nothing to roll back to", code="no_previous_version")
    rolled_back = activation.version
    activation.version, activation.previous = activation.previous, rolled_back
    activation.activated_at = timezone.now()
    activation.activated_by = actor
    activation.save()
    _decide(
        rolled_back,
        DecisionKind.ROLLBACK,
        actor,
        f"{reason} (back to {activation.version.label})",
        plant=plant,
    )
    return activation


@transaction.atomic
def ruleset_version_schedule_publish(
    *, version: RuleSetVersion, plant: Plant, actor, after: dt.datetime | None = None
) -> ScheduledPublish:
    """Publish to ``plant`` at the start of its next release window (plants' calendar)."""
    _require_for_version(
        actor, "rules.publish_rulesetversion", version, "rules.publish_plantoverride"
    )
    if version.plant_id and version.plant_id != plant.pk:
        raise DomainError(
            message=f"{version.label} is an override for {version.plant.code} only",
            code="wrong_plant",
        )
    if version.state not in (VersionState.APPROVED, VersionState.PUBLISHED):
        raise Conflict(f"{version.label} is {version.state}; approve it first")
    window = next_release_window(plant=plant, after=after)
    if window is None:
        raise DomainError(
            message=f"plant {plant.code} has no release window ahead", code="no_release_window"
        )
    scheduled = ScheduledPublish.objects.create(
        version=version, plant=plant, due_at=window[0], requested_by=actor
    )
    _decide(
        version,
        DecisionKind.SCHEDULE,
        actor,
        f"{plant.code} at {window[0].isoformat()}",
        plant=plant,
    )
    return scheduled


def scheduled_publishes_run(*, now: dt.datetime | None = None) -> int:
    """Carry out every due scheduled publish; safe to run twice (claimed by conditional update)."""
    now = now or timezone.now()
    done = 0
    due = ScheduledPublish.objects.filter(status=ScheduleStatus.PENDING, due_at__lte=now)
    for item_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            claimed = ScheduledPublish.objects.filter(
                pk=item_id, status=ScheduleStatus.PENDING
            ).update(status=ScheduleStatus.DONE, done_at=now)
            if claimed != 1:  # another worker took it
                continue
            item = ScheduledPublish.objects.select_related("version", "plant", "requested_by").get(
                pk=item_id
            )
            ruleset_version_publish(
                version=item.version, actor=item.requested_by, plants=[item.plant]
            )
            done += 1
    return done


# --- evaluation -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlantEvaluation:
    """Outcome of every live rule set for one event at one plant.

    ``pins`` (rule set key → version id) is stored with the event; passing it back as
    ``version=`` evaluates later steps of the same event with the same versions, whatever
    was published meanwhile.
    """

    plant: str
    event_type: str
    pins: dict[str, int]
    evaluations: tuple[Evaluation, ...]

    @property
    def actions(self):
        return tuple(a for e in self.evaluations for a in e.actions)

    def explanation(self) -> dict[str, Any]:
        return {
            "plant": self.plant,
            "event_type": self.event_type,
            "pins": self.pins,
            "rulesets": [e.explanation() for e in self.evaluations],
        }


def live_versions(*, plant: Plant) -> dict[str, RuleSetVersion]:
    """Rule set key → the version live at ``plant`` (plant row first, then global)."""
    live: dict[str, RuleSetVersion] = {}
    rows = Activation.objects.filter(plant__in=[plant]).select_related("version__ruleset")
    for row in rows:
        live[row.version.ruleset.key] = row.version
    for row in Activation.objects.filter(plant__isnull=True).select_related("version__ruleset"):
        live.setdefault(row.version.ruleset.key, row.version)
    return live


def evaluate(
    *,
    plant: Plant,
    event_type: str,
    context: Mapping[str, Any],
    version: Mapping[str, int] | None = None,
) -> PlantEvaluation:
    """Evaluate the rule sets live at ``plant`` (or pinned by ``version``) for one event.

    Raises :class:`rules.errors.RuleEvaluationError` naming the rule when a rule fails: the
    orchestrator quarantines the event with that reason.
    """
    if version is not None:
        versions = {
            v.ruleset.key: v
            for v in RuleSetVersion.objects.filter(pk__in=version.values()).select_related(
                "ruleset"
            )
        }
    else:
        versions = live_versions(plant=plant)
    evaluations = []
    pins = {}
    for key in sorted(versions):
        compiled = compiled_version(versions[key])
        if event_type in compiled.by_event:
            evaluations.append(compiled.evaluate(event_type, dict(context)))
        pins[key] = versions[key].pk
    return PlantEvaluation(plant.code, event_type, pins, tuple(evaluations))


# --- simulation -------------------------------------------------------------------------

#: Events a simulation reads when neither a count nor a window is given.
DEFAULT_SIMULATION_EVENTS = 500


def _occurred_at(event: SimEvent) -> dt.datetime | None:
    raw = (event.context.get("event") or {}).get("occurred_at")
    if raw is None or isinstance(raw, dt.datetime):
        return raw
    try:
        moment = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@transaction.atomic
def ruleset_version_simulate(
    *,
    version: RuleSetVersion,
    plant: Plant,
    actor=None,
    events: Iterable[SimEvent | tuple[str, str, Mapping[str, Any]]] | None = None,
    last_n: int | None = DEFAULT_SIMULATION_EVENTS,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> SimulationReport:
    """Run ``version`` over stored events of ``plant`` and store what would change.

    The baseline is the version of the same rule set live at ``plant`` now (plant row, else
    global; none for a new rule set). ``events`` defaults to the registered event source
    (:func:`rules.simulation.register_event_source`, the orchestrator's event log); given
    explicitly they are filtered by ``since``/``until`` on ``event.occurred_at`` and capped
    at ``last_n`` as well. Events without a ``plant`` parameter map get the plant's current
    site parameters. Works in any state, so a reviewer sees the report before approving.
    """
    if actor is not None:
        perm = "rules.author_plantoverride" if version.plant_id else "rules.add_simulationreport"
        _require(actor, perm, plant)
    if version.plant_id and version.plant_id != plant.pk:
        raise DomainError(
            message=f"{version.label} is an override for {version.plant.code}; "
            f"it cannot be simulated at {plant.code}",
            code="wrong_plant",
        )
    if since and until and since > until:
        raise DomainError(message="'since' is after 'until'", code="bad_window")
    if events is None:
        source = event_source()
        if source is None:
            raise DomainError(
                message="no event source is registered: the event log is not available",
                code="no_event_source",
            )
        events = source(plant=plant, last_n=last_n, since=since, until=until)
    parameters: dict[str, Any] | None = None

    def prepared() -> Iterable[SimEvent]:
        nonlocal parameters
        for item in events:
            event = as_sim_event(item)
            if since is not None or until is not None:
                moment = _occurred_at(event)
                if moment is None or (since and moment < since) or (until and moment > until):
                    continue
            if "plant" not in event.context:
                if parameters is None:
                    parameters = plant_parameters(plant=plant)
                event = dataclasses.replace(event, context={**event.context, "plant": parameters})
            yield event

    baseline = live_versions(plant=plant).get(version.ruleset.key)
    stream = prepared()
    if last_n is not None:
        stream = itertools.islice(stream, last_n)
    result = compare(
        candidate=compiled_version(version),
        baseline=compiled_version(baseline) if baseline is not None else None,
        events=stream,
    )
    summary = result.summary()
    summary["baseline"] = baseline.label if baseline is not None else None
    report = SimulationReport(
        version=version,
        baseline=baseline,
        plant=plant,
        requested_by=actor,
        last_n=last_n,
        since=since,
        until=until,
        events_evaluated=result.evaluated,
        events_changed=result.changed,
        summary=summary,
        changes=result.changes,
    )
    report.full_clean()
    report.save()
    _decide(
        version,
        DecisionKind.SIMULATE,
        actor,
        f"{plant.code}: {result.changed} of {result.evaluated} events would change "
        f"(against {summary['baseline'] or 'nothing live'})",
        plant=plant,
    )
    return report


# --- shipped rule packs -----------------------------------------------------------------

#: The rule sets shipped with Interlock (scenario 1 and the gates of the event pipeline).
PACKS_DIR = Path(__file__).parent / "packs"


def rule_pack_paths() -> list[Path]:
    return sorted(PACKS_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class PackOutcome:
    """What loading one pack did: ``created`` (published), ``unchanged`` or ``kept``."""

    ruleset: str
    status: str
    version: str | None


def rule_pack_load(*, source: str, author, approver, force: bool = False) -> PackOutcome:
    """Create, submit, approve (four eyes) and publish one shipped pack as the global default.

    Idempotent: a rule set whose live global version has this exact text is left alone.
    A rule set the governance board has since changed (another version live, or none) is
    *kept* as it is, so re-seeding never undoes a change made in the admin; ``force=True``
    publishes the shipped text as a new version anyway.
    """
    compiled = compile_ruleset(source)
    key = compiled.definition.ruleset
    live = Activation.objects.filter(ruleset__key=key, plant__isnull=True).first()
    if live is not None and live.version.source == source:
        return PackOutcome(key, "unchanged", live.version.label)
    if RuleSet.objects.filter(key=key).exists() and not force:
        return PackOutcome(key, "kept", live.version.label if live else None)
    with transaction.atomic():
        version = ruleset_version_create(source=source, author=author)
        ruleset_version_submit(version=version, actor=author)
        ruleset_version_approve(
            version=version, approver=approver, comment="shipped rule pack (load_rule_packs)"
        )
        ruleset_version_publish(version=version, actor=approver)
    return PackOutcome(key, "created", version.label)
