"""``manage.py seed_demo_lots``: register the demo's component lots in Interlock.

The lots of ``fixtures/demo/simulation.yaml`` are written in each plant's own codes (item,
unit); they are mapped like any inbound message and created through ``lot_create``. The
MES simulator issues from them. Interlock has no inbound event that creates a purchased
lot yet (``asn.received`` records the shipment, not its lots), so the demo registers them
here; running it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connectors.simulators.world import load_world


class Command(BaseCommand):
    help = "Create the demo component lots (fixtures/demo/simulation.yaml) that do not exist yet."

    def add_arguments(self, parser):
        parser.add_argument(
            "--fixtures",
            default=str(Path(settings.BASE_DIR) / "fixtures" / "demo"),
            help="Directory holding simulation.yaml and mappings.yaml.",
        )

    def handle(self, *args, fixtures: str, **options):
        from orchestrator.models import Lot
        from orchestrator.services.lots import lot_create
        from plants.models import Item, Plant, UnitOfMeasure
        from plants.services.mapping import MappingMissing, map_item, map_uom

        created = 0
        today = dt.date.today()
        with transaction.atomic():
            for code, world in load_world(fixtures).items():
                plant = Plant.objects.filter(code=code).first()
                if plant is None:
                    raise CommandError(f"plant {code} is not loaded; run seed_demo first")
                for lot in world.lots:
                    if Lot.objects.filter(plant=plant, number=lot.number).exists():
                        continue
                    try:
                        item = map_item(plant=plant, code=lot.item, on=today)
                        unit = map_uom(plant=plant, code=lot.uom, on=today)
                    except MappingMissing as exc:
                        raise CommandError(f"{code} lot {lot.number}: {exc.message}") from exc
                    lot_create(
                        plant=plant,
                        number=lot.number,
                        item=Item.objects.get(pk=item.item_id),
                        qty=unit.convert(lot.qty),
                        uom=UnitOfMeasure.objects.get(code=unit.uom_code),
                        expires_on=lot.expires_on,
                    )
                    created += 1
        if options["verbosity"]:
            self.stdout.write(f"Demo component lots: {created} created.")
