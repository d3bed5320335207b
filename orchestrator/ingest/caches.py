"""Per-process caches of what every batch re-reads: live rule sets and site parameters.

Each batch used to read the activations (2 queries) and the site parameters (2 queries)
of every plant it touched. Both change rarely (a publish, a rollback, an admin edit), so
they are kept per process and per plant, with the pattern of ``plants.services.mapping``:

* a snapshot is trusted for ``INTERLOCK_MAPPING_CACHE_SECONDS`` (2 s by default);
* after that, a *generation counter* in the shared cache (Redis in production) says
  whether anything changed; if not, the snapshot is trusted again without a query;
* any save or delete of an ``Activation`` / ``RuleSetVersion`` (rules) or a
  ``SiteParameter`` / ``SiteParameterOverride`` (parameters) drops this process's
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

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

#: Seconds after which a snapshot is reloaded even if no generation bump was seen.
MAX_AGE = 60.0


@dataclass
class _Snapshot:
    generation: int | None
    loaded_at: float
    checked_at: float
    value: Any


class PlantCache:
    """Per-plant snapshots of ``loader(plant_id)``, invalidated through the shared cache."""

    def __init__(self, name: str, loader: Callable[[int], Any]) -> None:
        self.name = name
        self.loader = loader
        self._snapshots: dict[int, _Snapshot] = {}
        self._lock = threading.Lock()

    @property
    def _key(self) -> str:
        return f"ingest-cache-generation:{self.name}"

    @staticmethod
    def _shared() -> bool:
        # The backend itself: ``cache`` is a proxy, isinstance() on it never sees LocMem.
        return not isinstance(caches["default"], LocMemCache)

    def clear(self) -> None:
        """Forget this process's snapshots."""
        with self._lock:
            self._snapshots.clear()

    def invalidate(self) -> None:
        """Forget the snapshots here and tell the other processes (one generation bump)."""
        self.clear()
        if self._shared():
            # add() then incr(): atomic in Redis, so concurrent writers never lose a bump.
            cache.add(self._key, 0, timeout=None)
            cache.incr(self._key)

    def get(self, plant_id: int) -> Any:
        ttl = settings.INTERLOCK_MAPPING_CACHE_SECONDS
        now = time.monotonic()
        snap = self._snapshots.get(plant_id)
        if snap is not None and now - snap.checked_at < ttl:
            return snap.value
        generation = cache.get(self._key, 0) if self._shared() else None
        if (
            snap is not None
            and generation is not None
            and snap.generation == generation
            and now - snap.loaded_at < MAX_AGE
        ):
            snap.checked_at = now
            return snap.value
        value = self.loader(plant_id)
        with self._lock:
            self._snapshots[plant_id] = _Snapshot(generation, now, now, value)
        return value


def _load_rule_versions(plant_id: int) -> dict[str, Any]:
    from plants.models import Plant
    from rules.services import live_versions

    return live_versions(plant=Plant(pk=plant_id))


def _load_parameters(plant_id: int) -> dict[str, Any]:
    from plants.models import Plant
    from rules.selectors import plant_parameters

    return plant_parameters(plant=Plant(pk=plant_id))


#: Rule set key → live ``RuleSetVersion`` per plant (``rules.services.live_versions``).
rule_versions = PlantCache("rule-versions", _load_rule_versions)
#: Site parameter key → typed value per plant (``rules.selectors.plant_parameters``).
site_parameters = PlantCache("site-parameters", _load_parameters)


def _invalidator(target: PlantCache) -> Callable[..., None]:
    def changed(sender, instance, **kwargs) -> None:
        # Now for this process (a batch later in this transaction or this test sees it),
        # after commit for everyone (no other process reloads the old rows meanwhile).
        target.clear()
        transaction.on_commit(target.invalidate)

    return changed


_invalidate_rules = _invalidator(rule_versions)
_invalidate_parameters = _invalidator(site_parameters)


def connect() -> None:
    """Connect the invalidation signals (idempotent; called when the bridge is imported)."""
    from plants.models import SiteParameter, SiteParameterOverride
    from rules.models import Activation, RuleSetVersion

    for model, handler in (
        (Activation, _invalidate_rules),
        (RuleSetVersion, _invalidate_rules),
        (SiteParameter, _invalidate_parameters),
        (SiteParameterOverride, _invalidate_parameters),
    ):
        for signal, what in ((post_save, "save"), (post_delete, "delete")):
            signal.connect(
                handler,
                sender=model,
                weak=False,
                dispatch_uid=f"ingest-cache-{model._meta.label_lower}-{what}",
            )


def clear_all() -> None:
    rule_versions.clear()
    site_parameters.clear()
