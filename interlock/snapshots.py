"""Per-process snapshots of rarely changing data, kept fresh through a shared counter.

The hot ingest path reads mapping tables, live rule versions and site parameters for
every batch; all of them change rarely (an admin edit, a publish). A
:class:`SnapshotCache` keeps what ``loader(key)`` returned in this process and trusts it
for ``INTERLOCK_MAPPING_CACHE_SECONDS``. After that, a *generation counter* in the shared
cache (Redis in production) says whether anything changed: unchanged means trusted again
without a query. A writer calls :meth:`invalidate` after commit, which drops the local
snapshots and bumps the counter for the other processes. Without a shared cache (the
local-memory default) there is no counter to ask, and a snapshot simply expires.

Keys belong to a *group* (``group(key)``); one counter per group. Mapping tables use one
group per (plant, table); rule versions one group for all plants.

**Redis away.** The counter is an optimisation, never a dependency: when the shared cache
does not answer, a snapshot is trusted for ``INTERLOCK_MAPPING_CACHE_SECONDS`` and then
reloaded from the database (the local-memory behaviour), so ingest keeps deciding events
instead of quarantining them. The outage is logged once (one WARNING line, no traceback)
and the cache is not asked again for ``SHARED_CACHE_PAUSE_SECONDS``, so a request does not
pay a connection attempt per lookup. Snapshots loaded meanwhile carry no generation and are
reloaded once the counter answers again; counter bumps that failed are sent when it does,
so processes that slept through the outage still see the writes made during it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache

logger = logging.getLogger(__name__)

#: Seconds the shared cache is left alone after it failed to answer.
SHARED_CACHE_PAUSE_SECONDS = 5.0


class _SharedCacheHealth:
    """Whether the shared cache answered lately (one per process, for every snapshot cache).

    Keeps the bumps that could not be sent while it was away, and logs the outage once.
    """

    def __init__(self) -> None:
        self.down_until = 0.0
        self.down = False
        self.pending_bumps: set[str] = set()
        self._lock = threading.Lock()

    def available(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, exc: Exception) -> None:
        with self._lock:
            self.down_until = time.monotonic() + SHARED_CACHE_PAUSE_SECONDS
            if not self.down:
                self.down = True
                # One line per outage, not a traceback per event: the cause is the point.
                logger.warning(
                    "shared cache unavailable (%s: %s); snapshots fall back to the database "
                    "until it answers again",
                    type(exc).__name__,
                    exc,
                )

    def answered(self) -> None:
        if not self.down and not self.pending_bumps:
            return
        with self._lock:
            was_down, self.down = self.down, False
            bumps, self.pending_bumps = self.pending_bumps, set()
        if was_down:
            logger.warning("shared cache answers again; snapshot counters in use")
        for counter in bumps:
            _bump(counter)


health = _SharedCacheHealth()


def _bump(counter: str) -> None:
    try:
        # add() then incr(): atomic in Redis, so concurrent writers never lose a bump.
        cache.add(counter, 0, timeout=None)
        cache.incr(counter)
    except Exception as exc:  # any cache failure: retry the bump later
        health.pending_bumps.add(counter)
        health.failed(exc)


def _generation(counter: str) -> int | None:
    """The shared counter, or None when the cache is away (reload after the local TTL)."""
    if not health.available():
        return None
    try:
        value = cache.get(counter, 0)
    except Exception as exc:  # redis-py, socket and pickling errors alike
        health.failed(exc)
        return None
    health.answered()
    return value


def shared_cache() -> bool:
    """Do other processes see the default cache? (``cache`` is a proxy: ask the backend.)"""
    return not isinstance(caches["default"], LocMemCache)


@dataclass
class _Snapshot:
    generation: int | None
    loaded_at: float
    checked_at: float
    value: Any


class SnapshotCache:
    """Snapshots of ``loader(key)`` in this process, invalidated through the shared cache.

    ``max_age`` (seconds) reloads a snapshot whatever the counter says: a safety net for
    writes that bypass the code calling :meth:`invalidate` (``QuerySet.update``, raw SQL).
    """

    def __init__(
        self,
        namespace: str,
        loader: Callable[[Any], Any],
        *,
        group: Callable[[Any], str] = lambda key: "",
        max_age: float | None = None,
    ) -> None:
        self.namespace = namespace
        self.loader = loader
        self.group = group
        self.max_age = max_age
        self._snapshots: dict[Hashable, _Snapshot] = {}
        self._lock = threading.Lock()

    def _counter(self, group: str) -> str:
        return f"{self.namespace}-generation:{group}"

    def clear(self) -> None:
        """Forget this process's snapshots (nothing is told to other processes)."""
        with self._lock:
            self._snapshots.clear()

    def invalidate(self, key: Hashable) -> None:
        """Forget the snapshots of ``key``'s group here and tell the other processes."""
        group = self.group(key)
        with self._lock:
            for stale in [k for k in self._snapshots if self.group(k) == group]:
                del self._snapshots[stale]
        if shared_cache():
            counter = self._counter(group)
            if health.available():
                _bump(counter)
            else:
                health.pending_bumps.add(counter)

    def get(self, key: Hashable) -> Any:
        ttl = settings.INTERLOCK_MAPPING_CACHE_SECONDS
        now = time.monotonic()
        snap = self._snapshots.get(key)
        if snap is not None and now - snap.checked_at < ttl:
            return snap.value
        generation = _generation(self._counter(self.group(key))) if shared_cache() else None
        if (
            snap is not None
            and generation is not None
            and snap.generation == generation
            and (self.max_age is None or now - snap.loaded_at < self.max_age)
        ):
            snap.checked_at = now
            return snap.value
        value = self.loader(key)
        with self._lock:
            self._snapshots[key] = _Snapshot(generation, now, now, value)
        return value
