"""``manage.py seed_demo``: load the demo world from ``fixtures/demo/*.yaml``.

Three plants that differ like real ones (codes, units, work-center names, status codes),
canonical master data, site parameters with plant overrides, connected systems and one
login per role. Every row goes through ``full_clean()`` and is written only when it
differs from the fixture, so running the command again changes nothing (and adds no
history rows). Rows that are not in the fixtures are left alone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

from plants.models import (
    AlternateRouting,
    Item,
    ItemMapping,
    ItemRevision,
    Membership,
    Plant,
    ReleaseFreeze,
    ReleaseWindow,
    SiteParameter,
    SiteParameterOverride,
    StatusMapping,
    Supplier,
    UnitOfMeasure,
    UomMapping,
    WorkCenter,
    WorkCenterMapping,
)

DEFAULT_FIXTURES = Path(settings.BASE_DIR) / "fixtures" / "demo"
REASON = "seed_demo"


def _time(value: Any) -> dt.time:
    return value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))


def _datetime(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class Seeder:
    """Creates or updates rows by natural key, only when something differs."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def upsert(
        self,
        model: type[models.Model],
        key: dict[str, Any],
        values: dict[str, Any],
        *,
        m2m: dict[str, list] | None = None,
        on_create: dict[str, Any] | None = None,
    ) -> models.Model:
        obj = model._default_manager.filter(**key).first()
        created = obj is None
        if created:
            obj = model(**key, **values, **(on_create or {}))
            changed = True
        else:
            changed = False
            for name, value in values.items():
                if getattr(obj, name) != value:
                    setattr(obj, name, value)
                    changed = True
        if changed:
            try:
                obj.full_clean()
            except Exception as exc:
                raise CommandError(f"{model.__name__} {key}: {exc}") from exc
            obj._change_reason = REASON
            obj.save()
        for name, wanted in (m2m or {}).items():
            manager = getattr(obj, name)
            if {o.pk for o in manager.all()} != {o.pk for o in wanted}:
                manager.set(wanted)
                changed = True
        state = "created" if created else ("updated" if changed else "unchanged")
        self.counts[(model.__name__, state)] += 1
        return obj

    def total(self, state: str) -> int:
        return sum(n for (_, s), n in self.counts.items() if s == state)


class Command(BaseCommand):
    help = (
        "Load the demo plants, master data, mappings, parameters, systems and users (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fixtures",
            type=Path,
            default=DEFAULT_FIXTURES,
            help="Directory with the YAML fixtures (default: fixtures/demo).",
        )
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Also set existing demo users' passwords back to INTERLOCK_DEMO_PASSWORD.",
        )

    def handle(self, *args, fixtures: Path, reset_passwords: bool, verbosity: int, **options):
        self.dir = fixtures
        seeder = Seeder()
        with transaction.atomic():
            plants = self.load_plants(seeder)
            self.load_masterdata(seeder, plants)
            self.load_mappings(seeder, plants)
            self.load_parameters(seeder, plants)
            self.load_systems(seeder, plants)
            self.load_users(seeder, plants, reset_passwords=reset_passwords)
        if verbosity >= 2:
            for (model, state), count in sorted(seeder.counts.items()):
                self.stdout.write(f"  {model:24} {state:9} {count}")
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data: {seeder.total('created')} created, {seeder.total('updated')} "
                    f"updated, {seeder.total('unchanged')} unchanged."
                )
            )
        self.seeder = seeder  # read by tests and by the demo command's summary

    def read(self, name: str) -> dict:
        path = self.dir / name
        try:
            with path.open(encoding="utf-8") as fh:
                return yaml.safe_load(fh) or {}
        except FileNotFoundError:
            raise CommandError(f"missing fixture file {path}") from None
        except yaml.YAMLError as exc:
            raise CommandError(f"{path}: {exc}") from None

    # --- loaders ------------------------------------------------------------------------

    def load_plants(self, seeder: Seeder) -> dict[str, Plant]:
        plants: dict[str, Plant] = {}
        for row in self.read("plants.yaml")["plants"]:
            row = dict(row)
            windows = row.pop("release_windows", [])
            freezes = row.pop("release_freezes", [])
            plant = seeder.upsert(Plant, {"code": row.pop("code")}, row)
            plants[plant.code] = plant
            for window in windows:
                seeder.upsert(
                    ReleaseWindow,
                    {
                        "plant": plant,
                        "weekday": window["weekday"],
                        "start_time": _time(window["start_time"]),
                    },
                    {
                        "name": window["name"],
                        "end_time": _time(window["end_time"]),
                        "active": window.get("active", True),
                    },
                )
            for freeze in freezes:
                seeder.upsert(
                    ReleaseFreeze,
                    {"plant": plant, "starts_at": _datetime(freeze["starts_at"])},
                    {"ends_at": _datetime(freeze["ends_at"]), "reason": freeze["reason"]},
                )
        return plants

    def load_masterdata(self, seeder: Seeder, plants: dict[str, Plant]) -> None:
        data = self.read("masterdata.yaml")
        units = {}
        for row in data["units"]:
            row = dict(row)
            code = row.pop("code")
            units[code] = seeder.upsert(UnitOfMeasure, {"code": code}, row)
        for row in data["items"]:
            row = dict(row)
            revisions = row.pop("revisions", [])
            row["base_uom"] = units[row["base_uom"]]
            row.setdefault("critical", False)
            row.setdefault("need_lead_days", 0)
            row.setdefault("shelf_life_days", None)
            item = seeder.upsert(Item, {"code": row.pop("code")}, row)
            for rev in revisions:
                seeder.upsert(
                    ItemRevision,
                    {"item": item, "revision": str(rev["revision"])},
                    {
                        "description": rev.get("description", ""),
                        "released": rev.get("released", True),
                    },
                )
        for row in data["work_centers"]:
            row = dict(row)
            row["plant"] = plants[row["plant"]]
            row["capacity_per_hour"] = _decimal(row.get("capacity_per_hour"))
            row.setdefault("constrained", False)
            seeder.upsert(WorkCenter, {"code": row.pop("code")}, row)
        for row in data["suppliers"]:
            row = dict(row)
            seeder.upsert(Supplier, {"code": row.pop("code")}, row)
        centers = {w.code: w for w in WorkCenter.objects.all()}
        for row in data.get("alternate_routings", []):
            row = dict(row)
            item = Item.objects.get(code=row.pop("item")) if row.get("item") else None
            row.pop("item", None)
            seeder.upsert(
                AlternateRouting,
                {
                    "work_center": centers[row.pop("work_center")],
                    "alternate": centers[row.pop("alternate")],
                    "item": item,
                },
                row,
            )

    def load_mappings(self, seeder: Seeder, plants: dict[str, Plant]) -> None:
        items = {i.code: i for i in Item.objects.all()}
        units = {u.code: u for u in UnitOfMeasure.objects.all()}
        work_centers = {w.code: w for w in WorkCenter.objects.all()}
        for plant_code, tables in self.read("mappings.yaml").items():
            plant = plants[plant_code]

            def common(row: dict, plant: Plant = plant) -> tuple[dict, dict]:
                key = {
                    "plant": plant,
                    "plant_code": str(row["plant_code"]),
                    "valid_from": row["valid_from"],
                }
                values = {"valid_to": row.get("valid_to"), "note": row.get("note", "")}
                return key, values

            for row in tables.get("items", []):
                key, values = common(row)
                values |= {"item": items[row["item"]], "revision": str(row.get("revision", ""))}
                seeder.upsert(ItemMapping, key, values)
            for row in tables.get("uoms", []):
                key, values = common(row)
                values |= {
                    "uom": units[row["uom"]],
                    "factor": Decimal(str(row["factor"])),
                    "decimal_places": row.get("decimal_places", 3),
                    "rounding_mode": row.get("rounding_mode", "ROUND_HALF_UP"),
                }
                seeder.upsert(UomMapping, key, values)
            for row in tables.get("work_centers", []):
                key, values = common(row)
                values["work_center"] = work_centers[row["work_center"]]
                seeder.upsert(WorkCenterMapping, key, values)
            for row in tables.get("statuses", []):
                key, values = common(row)
                key["domain"] = row["domain"]
                values["canonical_status"] = row["canonical_status"]
                seeder.upsert(StatusMapping, key, values)

    def load_parameters(self, seeder: Seeder, plants: dict[str, Plant]) -> None:
        for row in self.read("parameters.yaml")["parameters"]:
            row = dict(row)
            overrides = row.pop("overrides", {}) or {}
            row["default_value"] = str(row["default_value"])
            row["minimum"] = _decimal(row.get("minimum"))
            row["maximum"] = _decimal(row.get("maximum"))
            row.setdefault("unit", "")
            parameter = seeder.upsert(SiteParameter, {"key": row.pop("key")}, row)
            for plant_code, override in overrides.items():
                seeder.upsert(
                    SiteParameterOverride,
                    {"parameter": parameter, "plant": plants[plant_code]},
                    {"value": str(override["value"]), "reason": override.get("reason", "")},
                )

    def load_systems(self, seeder: Seeder, plants: dict[str, Plant]) -> None:
        from plants.models import ConnectedSystem

        for row in self.read("systems.yaml")["systems"]:
            row = dict(row)
            served = [plants[code] for code in row.pop("plants")]
            for name in ("timeout_seconds", "rate_limit_per_second"):
                if name in row:
                    row[name] = float(row[name])
            seeder.upsert(ConnectedSystem, {"code": row.pop("code")}, row, m2m={"plants": served})

    def load_users(
        self, seeder: Seeder, plants: dict[str, Plant], *, reset_passwords: bool
    ) -> None:
        user_model = get_user_model()
        password = settings.INTERLOCK_DEMO_PASSWORD
        for row in self.read("users.yaml")["users"]:
            superuser = bool(row.get("superuser", False))
            user = seeder.upsert(
                user_model,
                {"username": row["username"]},
                {
                    "first_name": row.get("first_name", ""),
                    "last_name": row.get("last_name", ""),
                    "email": row.get("email", f"{row['username']}@interlock.example"),
                    "is_staff": True,
                    "is_superuser": superuser,
                    "is_active": True,
                },
                # Only new users get the demo password: hashing is slow, and someone may
                # have changed theirs on purpose. --reset-passwords puts them all back.
                on_create={"password": make_password(password)},
            )
            if reset_passwords and not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
                seeder.counts[("password", "updated")] += 1
            for membership in row.get("roles", []):
                plant = plants[membership["plant"]] if membership.get("plant") else None
                seeder.upsert(
                    Membership, {"user": user, "role": membership["role"], "plant": plant}, {}
                )
