"""factory-boy factories for the plants app (other apps add their own modules)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from plants import models as pm
from plants.choices import ItemType, PlantProfile, SystemKind, UomDimension


class PlantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Plant
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"PL{n}")
    name = factory.LazyAttribute(lambda o: f"Plant {o.code}")
    profile = PlantProfile.HIGH_VOLUME
    timezone = "Europe/Berlin"


class UomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.UnitOfMeasure
        django_get_or_create = ("code",)

    code = "EA"
    name = factory.LazyAttribute(lambda o: o.code)
    dimension = UomDimension.COUNT


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Item
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"ITEM-{n:04d}")
    description = factory.LazyAttribute(lambda o: f"Item {o.code}")
    item_type = ItemType.FINISHED
    base_uom = factory.SubFactory(UomFactory)


class ItemRevisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.ItemRevision
        django_get_or_create = ("item", "revision")

    item = factory.SubFactory(ItemFactory)
    revision = "A"


class WorkCenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.WorkCenter
        django_get_or_create = ("code",)

    plant = factory.SubFactory(PlantFactory)
    code = factory.Sequence(lambda n: f"WC-{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Work center {o.code}")


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Supplier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SUP-{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Supplier {o.code}")


class ItemMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.ItemMapping

    plant = factory.SubFactory(PlantFactory)
    plant_code = factory.Sequence(lambda n: f"MAT{n:05d}")
    item = factory.SubFactory(ItemFactory)
    valid_from = dt.date(2026, 1, 1)


class UomMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.UomMapping

    plant = factory.SubFactory(PlantFactory)
    plant_code = "PCS"
    uom = factory.SubFactory(UomFactory)
    factor = Decimal("1")
    valid_from = dt.date(2026, 1, 1)


class WorkCenterMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.WorkCenterMapping

    plant = factory.SubFactory(PlantFactory)
    plant_code = factory.Sequence(lambda n: f"LINE_{n}")
    work_center = factory.SubFactory(WorkCenterFactory, plant=factory.SelfAttribute("..plant"))
    valid_from = dt.date(2026, 1, 1)


class ConnectedSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.ConnectedSystem
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SYS-{n:03d}")
    name = factory.LazyAttribute(lambda o: f"System {o.code}")
    kind = SystemKind.MES


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")


def make_member(role: str, plant: pm.Plant | None = None, *, username: str | None = None):
    """A staff user holding ``role`` at ``plant`` (or globally)."""
    user = UserFactory(username=username or f"{role}-{plant.code if plant else 'all'}")
    pm.Membership.objects.get_or_create(user=user, role=role, plant=plant)
    return user


def issue_api_key(system: pm.ConnectedSystem) -> str:
    from plants.services.apikeys import api_key_issue

    _, raw = api_key_issue(system=system, name="test", actor=None)
    return raw
