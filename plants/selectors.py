"""Read-side queries of the plants app."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from .auth import plant_ids_for
from .models import Plant, ReleaseFreeze, ReleaseWindow, SiteParameter, SiteParameterOverride


def scope_queryset(qs: QuerySet, *, user, perm: str) -> QuerySet:
    """Limit ``qs`` to rows in the plants where ``user`` (person or system) holds ``perm``.

    The model says how to reach its plant through ``plant_lookup``; models without one
    (canonical master data) are company-wide and returned unfiltered.
    """
    lookup = getattr(qs.model, "plant_lookup", None)
    if lookup is None:
        return qs if user_has_any(user, perm) else qs.none()
    plants = plant_ids_for(user, perm)
    if plants is None:
        return qs
    if not plants:
        return qs.none()
    filtered = qs.filter(**{f"{lookup}__in": plants})
    # Many-to-many lookups (a system serving several plants) can repeat rows.
    return filtered.distinct() if "plants" in lookup else filtered


def user_has_any(user, perm: str) -> bool:
    plants = plant_ids_for(user, perm)
    return plants is None or bool(plants)


def site_parameter(*, key: str, plant: Plant | None = None) -> Any:
    """Typed value of a site parameter: the plant's override if any, else the global default.

    Raises ``SiteParameter.DoesNotExist`` for an unknown key: a misspelt parameter must not
    silently become ``None`` inside a rule.
    """
    parameter = SiteParameter.objects.get(key=key)
    if plant is not None:
        override = SiteParameterOverride.objects.filter(parameter=parameter, plant=plant).first()
        if override is not None:
            return parameter.parse(override.value)
    return parameter.parse(parameter.default_value)


def next_release_window(
    *, plant: Plant, after: dt.datetime | None = None, horizon_days: int = 60
) -> tuple[dt.datetime, dt.datetime] | None:
    """The first moment at or after ``after`` when changes may go live at ``plant``.

    Returns ``(start, end)`` in UTC: the start is ``after`` itself when it falls inside a
    window, else the next window's start. Freeze periods are cut out. ``None`` when no
    window opens within ``horizon_days``.
    """
    after = after or timezone.now()
    tz = plant.tz
    windows = list(ReleaseWindow.objects.filter(plant=plant, active=True))
    if not windows:
        return None
    freezes = list(
        ReleaseFreeze.objects.filter(plant=plant, ends_at__gt=after).order_by("starts_at")
    )
    local_day = after.astimezone(tz).date()
    candidates: list[tuple[dt.datetime, dt.datetime]] = []
    for offset in range(horizon_days + 1):
        day = local_day + dt.timedelta(days=offset)
        for window in windows:
            if window.weekday != day.weekday():
                continue
            start = dt.datetime.combine(day, window.start_time, tzinfo=tz).astimezone(dt.UTC)
            end = dt.datetime.combine(day, window.end_time, tzinfo=tz).astimezone(dt.UTC)
            if end <= after:
                continue
            candidates.append((max(start, after), end))
        if candidates:
            candidates.sort()
            for start, end in candidates:
                for freeze in freezes:
                    if freeze.starts_at <= start < freeze.ends_at:
                        start = freeze.ends_at
                    elif start < freeze.starts_at < end:
                        end = freeze.starts_at
                if start < end:
                    return start, end
            candidates.clear()
    return None


def in_release_window(*, plant: Plant, at: dt.datetime | None = None) -> bool:
    at = at or timezone.now()
    window = next_release_window(plant=plant, after=at, horizon_days=1)
    return window is not None and window[0] == at
