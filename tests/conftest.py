"""Shared fixtures: plants, users with roles, API clients."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import (
    ConnectedSystemFactory,
    PlantFactory,
    UserFactory,
    issue_api_key,
    make_member,
)


@pytest.fixture(autouse=True)
def _fresh_mapping_cache():
    from orchestrator.ingest import caches
    from orchestrator.services.outbox import outbox_wake_resume
    from plants.services.mapping import mapping_cache

    mapping_cache.clear()
    caches.clear_all()
    outbox_wake_resume()  # a broker failure in one test must not pause wake-ups in the next
    yield
    mapping_cache.clear()
    caches.clear_all()


@pytest.fixture
def plant_p1(db):
    return PlantFactory(code="P1", name="Plant 1")


@pytest.fixture
def plant_p2(db):
    return PlantFactory(code="P2", name="Plant 2")


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def user_factory(db):
    return UserFactory


@pytest.fixture
def member(db):
    """``member(role, plant=None)`` → a staff user holding that role."""
    return make_member


@pytest.fixture
def system_with_key(db):
    """``system_with_key(*plants, kind="mes")`` → ``(system, raw_key)``."""

    def make(*plants, kind="mes", code=None):
        system = ConnectedSystemFactory(kind=kind, **({"code": code} if code else {}))
        system.plants.set(plants)
        return system, issue_api_key(system)

    return make
