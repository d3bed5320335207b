"""The per-process caches of live rule sets and site parameters (``orchestrator.ingest.caches``):
a change applies to the next batch of the same process at once, a batch in flight keeps
what it read, and an unchanged cache costs no query."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings
from django.utils import timezone

from orchestrator.ingest import caches, rules_bridge
from orchestrator.ingest.context import BatchContext
from plants.choices import ParameterType
from plants.models import SiteParameter, SiteParameterOverride
from rules import services
from tests.factories import PlantFactory
from tests.factories_rules import board, published, threshold_doc
from tests.services import REDIS_URL

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _long_ttl(settings):
    # Long enough that only an invalidation (not the time-to-live) can explain a change.
    settings.INTERLOCK_MAPPING_CACHE_SECONDS = 60
    caches.clear_all()
    yield
    caches.clear_all()


def batch() -> BatchContext:
    return BatchContext(actor_label="system:TEST", now=timezone.now())


def test_published_version_applies_to_the_next_batch_and_in_flight_batches_keep_their_pins(
    django_assert_num_queries,
):
    plant = PlantFactory(code="P1")
    author, approver = board("author"), board("approver")

    before = batch()
    assert rules_bridge.rule_sets(before, plant)[0] == {}  # shipped packs, no pins

    v1 = published(threshold_doc(10), author=author, approver=approver)
    first = batch()
    assert rules_bridge.rule_sets(first, plant)[0] == {"receipt-gate": v1.pk}
    with django_assert_num_queries(0):  # cached now
        assert rules_bridge.rule_sets(batch(), plant)[0] == {"receipt-gate": v1.pk}

    v2 = published(threshold_doc(20), author=author, approver=approver)
    assert rules_bridge.rule_sets(batch(), plant)[0] == {"receipt-gate": v2.pk}
    # the batches that had read before keep what they read
    assert rules_bridge.rule_sets(before, plant)[0] == {}
    assert rules_bridge.rule_sets(first, plant)[0] == {"receipt-gate": v1.pk}

    services.ruleset_rollback(ruleset=v2.ruleset, plant=None, actor=approver, reason="too strict")
    assert rules_bridge.rule_sets(batch(), plant)[0] == {"receipt-gate": v1.pk}


def test_site_parameter_change_applies_to_the_next_batch(django_assert_num_queries):
    plant = PlantFactory(code="P1")
    parameter = SiteParameter.objects.create(
        key="scrap.test_threshold_pct",
        description="test",
        value_type=ParameterType.DECIMAL,
        default_value="5",
    )
    first = batch()
    assert rules_bridge.plant_parameters(first, plant)["scrap.test_threshold_pct"] == 5.0
    with django_assert_num_queries(0):
        assert rules_bridge.plant_parameters(batch(), plant)["scrap.test_threshold_pct"] == 5.0

    override = SiteParameterOverride.objects.create(parameter=parameter, plant=plant, value="7.5")
    assert rules_bridge.plant_parameters(batch(), plant)["scrap.test_threshold_pct"] == 7.5
    assert rules_bridge.plant_parameters(first, plant)["scrap.test_threshold_pct"] == 5.0

    parameter.default_value = "6"
    parameter.save()
    override.delete()
    assert rules_bridge.plant_parameters(batch(), plant)["scrap.test_threshold_pct"] == 6.0


def test_without_a_shared_cache_a_snapshot_lives_the_ttl(settings):
    plant = PlantFactory(code="P1")
    settings.INTERLOCK_MAPPING_CACHE_SECONDS = 0
    SiteParameter.objects.create(
        key="test.flag", description="t", value_type=ParameterType.BOOLEAN, default_value="false"
    )
    assert rules_bridge.plant_parameters(batch(), plant)["test.flag"] is False
    # a write that bypasses the signals is still seen once the TTL is over
    SiteParameter.objects.filter(key="test.flag").update(default_value="true")
    assert rules_bridge.plant_parameters(batch(), plant)["test.flag"] is True


@pytest.mark.redis
def test_change_reaches_another_process_through_the_shared_generation(
    django_capture_on_commit_callbacks,
):
    redis_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=redis_cache, INTERLOCK_MAPPING_CACHE_SECONDS=0):
        plant = PlantFactory(code="P1")
        reader = caches.plant_cache("site-parameters", caches._load_parameters)  # another process
        SiteParameter.objects.create(
            key="test.flag", description="t", value_type=ParameterType.BOOLEAN, default_value="0"
        )
        assert reader.get(plant.pk)["test.flag"] is False
        # unchanged generation: the snapshot is trusted again without a query
        SiteParameter.objects.filter(key="test.flag").update(default_value="1")
        assert reader.get(plant.pk)["test.flag"] is False
        with django_capture_on_commit_callbacks(execute=True):
            SiteParameter.objects.get(key="test.flag").save()  # bumps after commit
        assert reader.get(plant.pk)["test.flag"] is True


def test_outbox_systems_follow_a_new_deactivated_or_moved_system(django_assert_num_queries):
    from plants.choices import SystemKind
    from tests.factories import ConnectedSystemFactory

    p1, p2 = PlantFactory(code="P1"), PlantFactory(code="P2")
    assert caches.outbox_systems.get(p1.pk) == {}
    first = ConnectedSystemFactory(code="ERP-A", kind=SystemKind.ERP)
    first.plants.set([p1])  # m2m change: the next batch sees it
    assert caches.outbox_systems.get(p1.pk) == {"erp": first.pk}
    with django_assert_num_queries(0):  # cached now
        assert caches.outbox_systems.get(p1.pk) == {"erp": first.pk}

    second = ConnectedSystemFactory(code="ERP-B", kind=SystemKind.ERP)
    second.plants.set([p1])
    assert caches.outbox_systems.get(p1.pk) == {"erp": first.pk}  # lowest id stays
    first.active = False
    first.save()
    assert caches.outbox_systems.get(p1.pk) == {"erp": second.pk}
    second.plants.set([p2])
    assert caches.outbox_systems.get(p1.pk) == {}
    assert caches.outbox_systems.get(p2.pk) == {"erp": second.pk}
