"""Per-process caches of what every batch re-reads: live rule sets, site parameters and
the connected systems the outbox posts to.

Each batch used to read the activations (2 queries) and the site parameters (2 queries)
of every plant it touched. Both change rarely (a publish, a rollback, an admin edit), so
they are kept per process and per plant in ``interlock.snapshots.SnapshotCache`` (as
mapping tables are):

* a snapshot is trusted for ``INTERLOCK_MAPPING_CACHE_SECONDS`` (2 s by default);
* after that, a *generation counter* in the shared cache (Redis in production) says
  whether anything changed; if not, the snapshot is trusted again without a query;
* any save or delete of an ``Activation`` / ``RuleSetVersion`` (rules) or a
  ``SiteParameter`` / ``SiteParameterOverride`` (parameters) or a ``ConnectedSystem``
  and its plants (outbox systems) drops this process's
  snapshots at once (the next batch here reads the change) and, after commit, drops them
  again and bumps the shared generation (other processes read it within the TTL);
* a snapshot is reloaded after :data:`MAX_AGE` seconds whatever the generation says, a
  safety net for writes that bypass signals (``QuerySet.update``, raw SQL).

Without a shared cache (LocMem, the embedded default) there is no generation to ask and
a snapshot lives ``INTERLOCK_MAPPING_CACHE_SECONDS``; tests set that to 0.

Within one batch, the first value read is kept in ``ctx.cache`` (``rules_bridge``): every
event of a batch is evaluated with the same versions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from interlock.snapshots import SnapshotCache

#: Seconds after which a snapshot is reloaded even if no generation bump was seen.
MAX_AGE = 60.0


def _load_rule_versions(plant_id: int) -> dict[str, Any]:
    from plants.models import Plant
    from rules.services import live_versions

    return live_versions(plant=Plant(pk=plant_id))


def _load_parameters(plant_id: int) -> dict[str, Any]:
    from plants.models import Plant
    from rules.selectors import plant_parameters

    return plant_parameters(plant=Plant(pk=plant_id))


def _load_outbox_systems(plant_id: int) -> dict[str, int]:
    from ..services.outbox import outbox_systems_of

    return outbox_systems_of(plant_id=plant_id)


#: Rule set key → live ``RuleSetVersion`` per plant (``rules.services.live_versions``).
def plant_cache(name: str, loader: Callable[[int], Any]) -> SnapshotCache:
    """Snapshots per plant id; one shared generation for the whole cache ``name``."""
    return SnapshotCache("ingest-cache", loader, group=lambda _: name, max_age=MAX_AGE)


rule_versions = plant_cache("rule-versions", _load_rule_versions)
#: Site parameter key → typed value per plant (``rules.selectors.plant_parameters``).
site_parameters = plant_cache("site-parameters", _load_parameters)
#: Kind → id of the active connected system serving a plant (``post_to_system``'s target).
outbox_systems = plant_cache("outbox-systems", _load_outbox_systems)


def _invalidator(target: SnapshotCache) -> Callable[..., None]:
    def changed(sender, instance, **kwargs) -> None:
        # Now for this process (a batch later in this transaction or this test sees it),
        # after commit for everyone (no other process reloads the old rows meanwhile).
        # One group per cache: the key passed only names the group (every plant).
        target.clear()
        transaction.on_commit(lambda: target.invalidate(None))

    return changed


_invalidate_rules = _invalidator(rule_versions)
_invalidate_parameters = _invalidator(site_parameters)
_invalidate_systems = _invalidator(outbox_systems)


def connect() -> None:
    """Connect the invalidation signals (idempotent; called when the bridge is imported)."""
    from django.db.models.signals import m2m_changed

    from plants.models import ConnectedSystem, SiteParameter, SiteParameterOverride
    from rules.models import Activation, RuleSetVersion

    for model, handler in (
        (Activation, _invalidate_rules),
        (RuleSetVersion, _invalidate_rules),
        (SiteParameter, _invalidate_parameters),
        (SiteParameterOverride, _invalidate_parameters),
        (ConnectedSystem, _invalidate_systems),
    ):
        for signal, what in ((post_save, "save"), (post_delete, "delete")):
            signal.connect(
                handler,
                sender=model,
                weak=False,
                dispatch_uid=f"ingest-cache-{model._meta.label_lower}-{what}",
            )

    m2m_changed.connect(
        _invalidate_systems,
        sender=ConnectedSystem.plants.through,
        weak=False,
        dispatch_uid="ingest-cache-connectedsystem-plants",
    )


def clear_all() -> None:
    rule_versions.clear()
    site_parameters.clear()
    outbox_systems.clear()
