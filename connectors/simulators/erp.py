"""The ERP simulator (``/erp``, port 8101): the company ERP of all three plants.

It takes what Interlock posts to ERP (``operation.confirmation``, ``goods_issue``,
``scrap``, ``goods_receipt``, ``order.settle``, acknowledgments, lot status changes,
``inventory.adjustment`` of a cycle count, the ``stock.transfer`` or ``order.reroute`` planning
approved on an exposure, and ``atp.update`` of a released lot, which
covers open backorders of the item — entered with ``POST /erp/_backorders`` — in order and
answers which can now ship),
deduplicates on the idempotency key (the ledger), and keeps its own stock per plant and
item: a goods issue and scrap take stock out, a goods receipt puts the order's product in
under a document number like ``GR-P1-000123`` — the ``reference`` Interlock turns into a
``goods_receipt.posted`` event.

It is also where production orders come from: the **release driver** (a thread of this
process) releases ``--orders-per-plant`` orders per plant every ``--release-every``
seconds, in each plant's own codes (fixtures/demo/simulation.yaml), through Interlock's
inbound API with the ERP's key. Orders are rows here first and are sent until Interlock
answered, so a restart neither loses nor doubles a release.

    python -m connectors.simulators.erp --port 8101 --release-every 30
    curl -X POST localhost:8101/erp/_control -d '{"fail_rate": 0.3, "throttle_rps": 20}'
    curl localhost:8101/erp/_ledger   # what was applied; also /_inventory, /_orders, /_stats
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from decimal import ROUND_HALF_UP, Decimal

from . import base
from .world import PlantWorld, load_world

log = logging.getLogger("interlock.simulators.erp")

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    plant TEXT NOT NULL, item TEXT NOT NULL, qty TEXT NOT NULL, uom TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (plant, item)
);
CREATE TABLE IF NOT EXISTS orders (
    plant TEXT NOT NULL, number TEXT NOT NULL,
    item TEXT NOT NULL, qty TEXT NOT NULL, uom TEXT NOT NULL,
    envelope TEXT NOT NULL, created_at TEXT NOT NULL,
    sent_status TEXT,            -- Interlock's answer to the release (NULL: not sent yet)
    received_qty TEXT NOT NULL DEFAULT '0', settled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (plant, number)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lots (
    plant TEXT NOT NULL, lot TEXT NOT NULL, status TEXT NOT NULL, PRIMARY KEY (plant, lot)
);
-- Customer orders waiting for stock (entered at POST /erp/_backorders), and the quantity
-- available to promise per item that ATP updates add to.
CREATE TABLE IF NOT EXISTS backorders (
    plant TEXT NOT NULL, number TEXT NOT NULL, customer TEXT NOT NULL,
    item TEXT NOT NULL, qty TEXT NOT NULL, created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',       -- open | can_ship
    released_by TEXT,                          -- the ATP update that covered it
    PRIMARY KEY (plant, number)
);
CREATE TABLE IF NOT EXISTS atp (
    plant TEXT NOT NULL, item TEXT NOT NULL, qty TEXT NOT NULL, PRIMARY KEY (plant, item)
);
"""

MESSAGE_TYPES = frozenset(
    {
        "operation.confirmation",
        "goods_issue",
        "scrap",
        "goods_receipt",
        "order.settle",
        "production_order.acknowledgment",
        "lot.status_change",
        "atp.update",
        "inventory.adjustment",
    }
)

#: What Interlock tells the ERP's planning side (scenarios 6, 7, 8): each is kept in
#: ``planning`` (``GET /erp/_planning``) as the planner's worklist would show it.
PLANNING_TYPES = frozenset({"replenishment.flag", "order.date_at_risk", "capacity.update"})
#: What planning approved on an exposure (scenarios 7 and 8), applied here: a stock
#: transfer between plants (``GET /erp/_transfers``), an order re-planned on another
#: work center or at another plant (``GET /erp/_reroutes``, and ``_orders``).
PROPOSAL_TYPES = frozenset({"stock.transfer", "order.reroute"})
MESSAGE_TYPES = MESSAGE_TYPES | PLANNING_TYPES | PROPOSAL_TYPES

PLANNING_SCHEMA = """
CREATE TABLE IF NOT EXISTS planning (
    id INTEGER PRIMARY KEY, plant TEXT NOT NULL, type TEXT NOT NULL,
    subject TEXT NOT NULL, detail TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transfers (
    reference TEXT PRIMARY KEY, item TEXT NOT NULL, qty TEXT NOT NULL, uom TEXT NOT NULL,
    from_plant TEXT NOT NULL, to_plant TEXT NOT NULL, order_number TEXT NOT NULL,
    approved_by TEXT NOT NULL, created_at TEXT NOT NULL
);
-- Where an order's operations run now, when planning moved them (scenario 8).
CREATE TABLE IF NOT EXISTS reroutes (
    reference TEXT PRIMARY KEY, plant TEXT NOT NULL, number TEXT NOT NULL,
    operations TEXT NOT NULL, from_work_center TEXT NOT NULL,
    to_plant TEXT NOT NULL, to_work_center TEXT NOT NULL,
    approved_by TEXT NOT NULL, created_at TEXT NOT NULL
);
"""


def _dec(value, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        raise base.Rejected(f"{what} {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise base.Rejected(f"{what} {value!r} must be a number ≥ 0")
    return number


def _text(number: Decimal) -> str:
    return format(number.normalize(), "f") if number else "0"


class ErpSimulator(base.Simulator):
    name = "erp"
    message_types = MESSAGE_TYPES
    extra_schema = SCHEMA + PLANNING_SCHEMA

    def __init__(
        self,
        *,
        release_every: float = 0.0,
        orders_per_plant: int = 1,
        max_orders_per_plant: int = 0,
        plants: list[str] | None = None,
        fixtures: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.world = load_world(fixtures)
        self.release_every = release_every
        self.orders_per_plant = orders_per_plant
        self.max_orders_per_plant = max_orders_per_plant
        self.plants = plants or sorted(self.world)
        self._open_stock()

    # --- stock --------------------------------------------------------------------------
    def _open_stock(self) -> None:
        """A fresh ERP starts with the component lots of the fixtures in stock."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM stock LIMIT 1").fetchone():
                return
            for plant in self.world.values():
                for lot in plant.lots:
                    qty, uom = plant.to_canonical(lot.qty, lot.uom)
                    self._move(db, plant.code, plant.canonical_item(lot.item), qty, uom)

    def _move(self, db, plant: str, item: str, delta: Decimal, uom: str = "") -> Decimal:
        row = db.execute(
            "SELECT qty FROM stock WHERE plant = ? AND item = ?", (plant, item)
        ).fetchone()
        new = (Decimal(row["qty"]) if row else Decimal(0)) + delta
        db.execute(
            "INSERT INTO stock (plant, item, qty, uom) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (plant, item) DO UPDATE SET qty = excluded.qty",
            (plant, item, _text(new), uom),
        )
        return new

    def _next(self, db, name: str, start: int = 1) -> int:
        row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        value = row["value"] + 1 if row else start
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )
        return value

    def _order(self, db, plant: str, number: str):
        return db.execute(
            "SELECT * FROM orders WHERE plant = ? AND number = ?", (plant, number)
        ).fetchone()

    # --- the messages -------------------------------------------------------------------
    def apply(self, message: dict, plant: str) -> tuple[str | None, dict]:
        db, p, type_ = self.db, message["payload"], message["type"]
        world = self.world.get(plant)
        canonical = world.canonical_item if world else (lambda code: code)

        def need(*names: str) -> None:
            missing = [n for n in names if p.get(n) in (None, "")]
            if missing:
                raise base.Rejected(f"{type_} needs {', '.join(missing)}")

        if type_ in PLANNING_TYPES:
            return self._planning(db, plant, type_, p)
        if type_ == "stock.transfer":
            return self._transfer(db, plant, p)
        if type_ == "order.reroute":
            return self._reroute(db, plant, p)
        if type_ == "operation.confirmation":
            need("order", "operation")
            n = self._next(db, f"conf:{plant}")
            return f"CNF-{plant}-{n:06d}", {
                "order": p["order"],
                "operation": p["operation"],
                "yield": str(_dec(p.get("qty", 0), "qty")),
                "scrap": str(_dec(p.get("scrap_qty", 0), "scrap_qty")),
            }
        if type_ == "goods_issue":
            need("item", "qty")
            item, qty = canonical(str(p["item"])), _dec(p["qty"], "qty")
            stock = self._move(db, plant, item, -qty, p.get("uom", ""))
            n = self._next(db, f"gi:{plant}")
            return f"GI-{plant}-{n:06d}", {"item": item, "qty": str(-qty), "stock": str(stock)}
        if type_ == "scrap":
            need("qty")
            order = self._order(db, plant, str(p.get("order", "")))
            # Scrap of a component names it; scrap on the line is of the order's product.
            item = canonical(str(p["item"])) if p.get("item") else (order["item"] if order else "")
            qty = _dec(p["qty"], "qty")
            effect = {"order": p.get("order"), "item": item, "qty": str(-qty)}
            if item:
                effect["stock"] = str(self._move(db, plant, item, -qty, p.get("uom", "")))
            n = self._next(db, f"scrap:{plant}")
            return f"SCR-{plant}-{n:06d}", effect
        if type_ == "goods_receipt":
            need("order")
            order = self._order(db, plant, str(p["order"]))
            if p.get("qty") not in (None, ""):
                qty = _dec(p["qty"], "qty")
            elif order is not None:
                qty = Decimal(order["qty"])
            else:
                qty = Decimal(0)
            item = order["item"] if order else canonical(str(p.get("item") or p["order"]))
            stock = self._move(db, plant, item, qty, order["uom"] if order else "")
            if order is not None:
                db.execute(
                    "UPDATE orders SET received_qty = ? WHERE plant = ? AND number = ?",
                    (_text(Decimal(order["received_qty"]) + qty), plant, order["number"]),
                )
            n = self._next(db, f"gr:{plant}")
            return f"GR-{plant}-{n:06d}", {
                "order": p["order"],
                "lot": p.get("lot"),
                "item": item,
                "qty": str(qty),
                "stock": str(stock),
                "order_known": order is not None,
            }
        if type_ == "order.settle":
            need("order")
            db.execute(
                "UPDATE orders SET settled = 1 WHERE plant = ? AND number = ?",
                (plant, str(p["order"])),
            )
            n = self._next(db, f"settle:{plant}")
            return f"SET-{plant}-{n:06d}", {"order": p["order"], "document": p.get("document")}
        if type_ == "production_order.acknowledgment":
            need("order")
            return None, {"order": p["order"], "acknowledged": True}
        if type_ == "lot.status_change":
            need("lot", "status")
            db.execute(
                "INSERT INTO lots (plant, lot, status) VALUES (?, ?, ?) "
                "ON CONFLICT (plant, lot) DO UPDATE SET status = excluded.status",
                (plant, str(p["lot"]), str(p["status"])),
            )
            return None, {"lot": p["lot"], "status": p["status"]}
        if type_ == "inventory.adjustment":
            need("count", "item", "uom")
            item = canonical(str(p["item"]))
            delta = Decimal(str(p.get("variance_qty", 0)))
            qty, uom = world.to_canonical(delta, str(p["uom"])) if world else (delta, p["uom"])
            stock = self._move(db, plant, item, qty, uom)
            n = self._next(db, f"adj:{plant}")
            return f"ADJ-{plant}-{n:06d}", {
                "count": p["count"],
                "item": item,
                "lot": p.get("lot"),
                "qty": _text(qty),
                "stock": _text(stock),
            }
        if type_ == "atp.update":
            return self._atp(db, plant, p, canonical)
        raise base.Rejected(f"unknown type {type_!r}")  # pragma: no cover - checked before

    def _atp(self, db, plant: str, p: dict, canonical) -> tuple[str, dict]:
        """A lot became available to promise: its quantity (the order's, when the message
        names the order ERP released) is added to the item's ATP, which covers open
        backorders of the item first come, first served."""
        order = self._order(db, plant, str(p.get("order", ""))) if p.get("order") else None
        if order is not None:
            item, qty = order["item"], Decimal(order["qty"])
        elif p.get("item") and p.get("qty") not in (None, ""):
            item, qty = canonical(str(p["item"])), _dec(p["qty"], "qty")
        else:
            raise base.Rejected("atp.update needs an order ERP released, or item and qty")
        row = db.execute(
            "SELECT qty FROM atp WHERE plant = ? AND item = ?", (plant, item)
        ).fetchone()
        pool = (Decimal(row["qty"]) if row else Decimal(0)) + qty
        n = self._next(db, f"atp:{plant}")
        reference = f"ATP-{plant}-{n:06d}"
        can_ship = []
        for bo in db.execute(
            "SELECT * FROM backorders WHERE plant = ? AND item = ? AND status = 'open' "
            "ORDER BY created_at, number",
            (plant, item),
        ).fetchall():
            need = Decimal(bo["qty"])
            if need > pool:
                break
            pool -= need
            db.execute(
                "UPDATE backorders SET status = 'can_ship', released_by = ? "
                "WHERE plant = ? AND number = ?",
                (reference, plant, bo["number"]),
            )
            can_ship.append(
                {"backorder": bo["number"], "customer": bo["customer"], "qty": bo["qty"]}
            )
        db.execute(
            "INSERT INTO atp (plant, item, qty) VALUES (?, ?, ?) "
            "ON CONFLICT (plant, item) DO UPDATE SET qty = excluded.qty",
            (plant, item, _text(pool)),
        )
        return reference, {
            "item": item,
            "lot": p.get("lot"),
            "added": str(qty),
            "atp": _text(pool),
            "can_ship": can_ship,
        }

    def _backorder(self, query: dict) -> base.Answer:
        """``POST /erp/_backorders?plant=P1&item=…&qty=…&customer=…``: customer service
        enters an order the plant cannot ship yet."""
        plant, item, customer = query.get("plant", ""), query.get("item", ""), query.get("customer")
        if plant not in self.world or not item:
            return base.Answer(400, {"error": "give plant and item"})
        try:
            qty = _dec(query.get("qty", ""), "qty")
        except base.Rejected as exc:
            return base.Answer(400, {"error": str(exc)})
        item = self.world[plant].canonical_item(item)
        with self.transaction() as db:
            number = f"BO-{plant}-{self._next(db, f'bo:{plant}'):06d}"
            db.execute(
                "INSERT INTO backorders (plant, number, customer, item, qty, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (plant, number, customer or "CUSTOMER", item, _text(qty), base.iso(base.utcnow())),
            )
        return base.Answer(200, {"backorder": number, "item": item, "qty": _text(qty)})

    def _planning(self, db, plant: str, type_: str, p: dict) -> tuple[str, dict]:
        """A replenishment flag (item, line), an order date at risk, or a capacity change
        of a work center: the planner's worklist row, referenced ``PLN-<plant>-n``."""
        subject_field = {
            "replenishment.flag": "item",
            "order.date_at_risk": "order",
            "capacity.update": "work_center",
        }[type_]
        subject = p.get(subject_field)
        if not subject:
            raise base.Rejected(f"{type_} needs {subject_field}")
        if type_ == "capacity.update":
            _dec(p.get("lost_hours", 0), "lost_hours")
        # An order's date at risk is booked at the order's own plant (another plant's
        # orders can be at risk from one plant's delayed ASN).
        where = str(p.get("order_plant") or plant)
        db.execute(
            "INSERT INTO planning (plant, type, subject, detail, created_at) VALUES (?, ?, ?, ?, ?)",
            (where, type_, str(subject), json.dumps(p, sort_keys=True), base.iso(base.utcnow())),
        )
        n = self._next(db, f"pln:{plant}")
        return f"PLN-{plant}-{n:06d}", {"plant": where, "type": type_, subject_field: subject}

    def _transfer(self, db, plant: str, p: dict) -> tuple[str, dict]:
        """An approved inter-plant reallocation: the item's stock leaves ``from_plant`` and
        arrives at ``to_plant`` (the message comes in the receiving plant's codes)."""
        missing = [n for n in ("item", "qty", "from_plant", "to_plant") if not p.get(n)]
        if missing:
            raise base.Rejected(f"stock.transfer needs {', '.join(missing)}")
        source, target = str(p["from_plant"]), str(p["to_plant"])
        if source not in self.world or target not in self.world or source == target:
            raise base.Rejected(f"stock.transfer from {source!r} to {target!r}: unknown plants")
        world = self.world.get(plant) or self.world[target]
        item = world.canonical_item(str(p["item"]))
        qty = _dec(p["qty"], "qty")
        if p.get("uom"):
            qty, uom = world.to_canonical(qty, str(p["uom"]))
        else:
            uom = ""
        row = db.execute(
            "SELECT qty FROM stock WHERE plant = ? AND item = ?", (source, item)
        ).fetchone()
        on_hand = Decimal(row["qty"]) if row else Decimal(0)
        if qty > on_hand:
            # A transfer order is refused for stock the sending plant does not have.
            raise base.Rejected(
                f"stock.transfer of {_text(qty)} {uom or ''} {item} from {source}: only "
                f"{_text(on_hand)} on hand there".replace("  ", " ")
            )
        left = self._move(db, source, item, -qty, uom)
        arrived = self._move(db, target, item, qty, uom)
        reference = f"TR-{target}-{self._next(db, f'tr:{target}'):06d}"
        db.execute(
            "INSERT INTO transfers (reference, item, qty, uom, from_plant, to_plant,"
            " order_number, approved_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                reference,
                item,
                _text(qty),
                uom,
                source,
                target,
                str(p.get("order") or ""),
                str(p.get("approved_by") or ""),
                base.iso(base.utcnow()),
            ),
        )
        return reference, {
            "item": item,
            "qty": _text(qty),
            "from_plant": source,
            "to_plant": target,
            "stock": {source: _text(left), target: _text(arrived)},
            "order": p.get("order"),
        }

    def _reroute(self, db, plant: str, p: dict) -> tuple[str, dict]:
        """An approved move of an order's operations off a stopped work center: the order
        is re-planned on ``to_work_center`` at ``to_plant`` (this plant or another)."""
        missing = [n for n in ("order", "to_work_center", "to_plant") if not p.get(n)]
        if missing:
            raise base.Rejected(f"order.reroute needs {', '.join(missing)}")
        home = str(p.get("order_plant") or plant)
        order = self._order(db, home, str(p["order"]))
        if order is None:
            raise base.Rejected(f"order {p['order']!r} is not an order of {home} here")
        target = str(p["to_plant"])
        if target not in self.world:
            raise base.Rejected(f"order.reroute to unknown plant {target!r}")
        # The company ERP knows every plant's own work-center codes.
        to_wc = self.world[target].native_work_center(str(p["to_work_center"]))
        operations = [str(op) for op in p.get("operations") or []]
        reference = f"RR-{home}-{self._next(db, f'rr:{home}'):06d}"
        db.execute(
            "INSERT INTO reroutes (reference, plant, number, operations, from_work_center,"
            " to_plant, to_work_center, approved_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                reference,
                home,
                order["number"],
                json.dumps(operations),
                str(p.get("work_center") or ""),
                target,
                to_wc,
                str(p.get("approved_by") or ""),
                base.iso(base.utcnow()),
            ),
        )
        return reference, {
            "order": order["number"],
            "plant": home,
            "operations": operations,
            "from_work_center": p.get("work_center"),
            "to_plant": target,
            "to_work_center": to_wc,
        }

    def routing(self, plant: str, number: str) -> dict:
        """Where the order's moved operations run now (the last move of each wins)."""
        moved: dict[str, dict] = {}
        for row in self.query(
            "SELECT * FROM reroutes WHERE plant = ? AND number = ? ORDER BY created_at, reference",
            (plant, number),
        ):
            for op in json.loads(row["operations"]) or ["*"]:
                moved[op] = {
                    "plant": row["to_plant"],
                    "work_center": row["to_work_center"],
                    "reference": row["reference"],
                }
        return moved

    # --- reconciliation snapshot ----------------------------------------------------------
    def snapshot(self, plant: str) -> dict:
        """What this ERP holds for ``plant``, for Interlock's reconciliation (scenario 9), in
        the codes and units it was posted in: per order the produced quantity (yield
        confirmed on its last operation), the scrapped quantity, the received quantity and
        whether it is settled; per lot the status last posted."""
        orders: dict[str, dict] = {}

        def order(number: str) -> dict:
            return orders.setdefault(
                number,
                {
                    "status": "open",
                    "produced_qty": "0",
                    "scrapped_qty": "0",
                    "received_qty": "0",
                    "uom": "",
                    "_ops": {},
                },
            )

        for entry in self.ledger(plant):
            p, type_ = entry["payload"], entry["type"]
            number = str(p.get("order") or "")
            if not number or p.get("order_plant", plant) != plant:
                # A planning note at this plant about another plant's order (scenario 7's
                # at-risk orders everywhere) is no order of this plant.
                continue
            row = order(number)
            if type_ == "operation.confirmation":
                ops = row["_ops"]
                op = str(p.get("operation", ""))
                ops[op] = ops.get(op, Decimal(0)) + _dec(p.get("qty", 0), "qty")
                row["uom"] = row["uom"] or str(p.get("uom", ""))
            elif type_ == "scrap":
                total = Decimal(row["scrapped_qty"]) + _dec(p.get("qty", 0), "qty")
                row["scrapped_qty"] = _text(total)
                row["uom"] = row["uom"] or str(p.get("uom", ""))
            elif type_ == "goods_receipt":
                row["status"] = "received"
            elif type_ == "order.settle":
                row["status"] = "settled"
        for r in self.query("SELECT * FROM orders WHERE plant = ?", (plant,)):
            if r["number"] in orders:
                orders[r["number"]]["received_qty"] = r["received_qty"]
                if r["settled"]:
                    orders[r["number"]]["status"] = "settled"
        for row in orders.values():
            ops = row.pop("_ops")
            if ops:
                row["produced_qty"] = _text(ops[max(ops)])
        lots = {
            r["lot"]: {"status": r["status"]}
            for r in self.query("SELECT lot, status FROM lots WHERE plant = ?", (plant,))
        }
        return {"system": "erp", "plant": plant, "orders": orders, "lots": lots}

    # --- read endpoints -----------------------------------------------------------------
    def extra_routes(self, method: str, parts: list[str], query: dict) -> base.Answer | None:
        if method == "POST" and parts == ["_release"]:
            return self._release_now(query)
        if method == "POST" and parts == ["_reverse"]:
            return self._reverse(query)
        if method == "POST" and parts == ["_backorders"]:
            return self._backorder(query)
        if method == "GET" and parts == ["_backorders"]:
            rows = [dict(r) for r in self.query("SELECT * FROM backorders ORDER BY plant, number")]
            return base.Answer(200, {"count": len(rows), "backorders": rows})
        if method != "GET":
            return None
        if parts == ["_planning"]:
            sql, params = "SELECT * FROM planning", []
            if query.get("plant"):
                sql, params = sql + " WHERE plant = ?", [query["plant"]]
            rows = self.query(sql + " ORDER BY id", params)
            items = [dict(r) | {"detail": json.loads(r["detail"])} for r in rows]
            return base.Answer(200, {"count": len(items), "planning": items})

        if parts == ["snapshot"]:
            if not query.get("plant"):
                return base.Answer(400, {"error": "snapshot needs ?plant="})
            return base.Answer(200, self.snapshot(query["plant"]))
        if parts == ["_inventory"]:
            rows = self.query("SELECT plant, item, qty, uom FROM stock ORDER BY plant, item")
            return base.Answer(200, {"stock": [dict(r) for r in rows]})
        if parts == ["_orders"]:
            sql, params = "SELECT * FROM orders", []
            if query.get("plant"):
                sql, params = sql + " WHERE plant = ?", [query["plant"]]
            rows = self.query(sql + " ORDER BY created_at, number", params)
            orders = [
                dict(r)
                | {
                    "envelope": json.loads(r["envelope"]),
                    "routing": self.routing(r["plant"], r["number"]),
                }
                for r in rows
            ]
            return base.Answer(200, {"count": len(orders), "orders": orders})
        if parts == ["_transfers"]:
            rows = self.query("SELECT * FROM transfers ORDER BY created_at, reference")
            return base.Answer(200, {"count": len(rows), "transfers": [dict(r) for r in rows]})
        if parts == ["_reroutes"]:
            rows = self.query("SELECT * FROM reroutes ORDER BY created_at, reference")
            items = [dict(r) | {"operations": json.loads(r["operations"])} for r in rows]
            return base.Answer(200, {"count": len(items), "reroutes": items})
        return None

    def _reverse(self, query: dict) -> base.Answer:
        """``POST /erp/_reverse?plant=P1&order=…&type=scrap``: someone reverses the order's
        postings of that type in the ERP by hand (they leave the ledger), so that the ERP
        and Interlock diverge (what ``demo_scenario 9`` reconciles)."""
        plant, order, type_ = query.get("plant", ""), query.get("order", ""), query.get("type", "")
        if not plant or not order or type_ not in MESSAGE_TYPES:
            return base.Answer(
                400, {"error": f"needs plant, order and type (one of {sorted(MESSAGE_TYPES)})"}
            )
        with self.transaction() as db:
            removed = db.execute(
                "DELETE FROM ledger WHERE plant = ? AND type = ? "
                "AND json_extract(payload, '$.order') = ?",
                (plant, type_, order),
            ).rowcount
        return base.Answer(200, {"plant": plant, "order": order, "type": type_, "removed": removed})

    def _release_now(self, query: dict) -> base.Answer:
        """``POST /erp/_release?plant=P1&count=1``: a planner releases orders now (what
        ``demo_scenario 1`` does); answers the order numbers once Interlock took them."""
        plant = query.get("plant", "")
        if plant not in self.world:
            return base.Answer(
                400, {"error": f"plant {plant!r} is not one of {sorted(self.world)}"}
            )
        try:
            count = int(query.get("count", 1))
        except ValueError:
            return base.Answer(400, {"error": "count must be a whole number"})
        if not 1 <= count <= 100:
            return base.Answer(400, {"error": "count must be 1 to 100"})
        numbers = self.create_orders(plant, count)
        self.send_releases()
        return base.Answer(200, {"plant": plant, "orders": numbers})

    # --- release driver -----------------------------------------------------------------
    def background(self):
        return [self.release_driver] if self.release_every > 0 else []

    def release_driver(self) -> None:
        """Release orders every ``release_every`` seconds until stopped (or the maximum)."""
        while not self.stop.is_set():
            for plant in self.plants:
                self.create_orders(plant, self.orders_per_plant)
            self.send_releases()
            self.stop.wait(self.release_every)

    def create_orders(self, plant_code: str, count: int) -> list[str]:
        """Plan ``count`` new orders at the plant (rows to send; nothing is sent here)."""
        plant = self.world[plant_code]
        numbers = []
        with self.transaction() as db:
            made = db.execute(
                "SELECT COUNT(*) AS n FROM orders WHERE plant = ?", (plant_code,)
            ).fetchone()["n"]
            if self.max_orders_per_plant:
                count = max(0, min(count, self.max_orders_per_plant - made))
            for _ in range(count):
                # A fresh ERP database counts on from the clock, so a demo database that
                # outlived the simulator's never sees an order number twice.
                n = self._next(db, f"order:{plant_code}", start=int(time.time()) % 900_000)
                number = f"{plant.order_prefix}{n:06d}"
                env, item, qty, uom = self.release_envelope(plant, number)
                db.execute(
                    "INSERT INTO orders (plant, number, item, qty, uom, envelope, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        plant_code,
                        number,
                        item,
                        _text(qty),
                        uom,
                        json.dumps(env),
                        env["occurred_at"],
                    ),
                )
                numbers.append(number)
        return numbers

    def release_envelope(self, plant: PlantWorld, number: str):
        """A ``production_order.released`` in the plant's own codes; also the canonical
        item, quantity and unit the ERP books the receipt in."""
        now = base.utcnow()
        product = self.random.choice(plant.products)
        qty = self.random.randint(*product.qty_range)
        canonical_item, revision = plant.item_ref(product.item, now.date())
        canonical_qty, canonical_uom = plant.to_canonical(qty, product.uom)
        # The routing and BOM in force are those of the item revision the plant's mapping
        # pins today (ECN-2291 moved P1's bracket from A to B on 2026-10-01).
        revision_code = revision or "A"
        payload = {
            "order": number,
            "item": product.item,
            "routing_revision": revision_code,
            "bom_revision": revision_code,
            "qty": qty,
            "uom": product.uom,
            "due_date": (now.date() + dt.timedelta(days=14)).isoformat(),
            "erp_reference": f"{plant.code}/{number}",
            "operations": [
                {"operation": op, "work_center": wc, "qty": qty} for op, wc in product.routing
            ],
            "components": [
                {
                    "item": c.item,
                    "qty": _number(c.per_unit * qty, plant.uom_ref(c.uom)),
                    "uom": c.uom,
                }
                for c in product.components
            ],
        }
        if revision:
            payload["revision"] = revision
        env = base.envelope(
            source="ERP",
            plant=plant.code,
            type_="production_order.released",
            payload=payload,
            occurred_at=now,
        )
        return env, canonical_item, canonical_qty, canonical_uom

    def send_releases(self) -> None:
        rows = self.query(
            "SELECT plant, number, envelope FROM orders WHERE sent_status IS NULL "
            "ORDER BY plant, created_at"
        )
        by_plant: dict[str, list] = {}
        for row in rows:
            by_plant.setdefault(row["plant"], []).append(row)
        for plant, pending in by_plant.items():
            results = self.client.post("ERP", [json.loads(r["envelope"]) for r in pending])
            if results is None:
                if self.stop.is_set():
                    return
                results = [{"status": "refused"}] * len(pending)
            with self.transaction() as db:
                for row, result in zip(pending, results, strict=True):
                    status = result.get("status", "?")
                    db.execute(
                        "UPDATE orders SET sent_status = ? WHERE plant = ? AND number = ?",
                        (status, plant, row["number"]),
                    )
                    if status not in ("accepted", "parked", "duplicate"):
                        log.warning("release %s/%s: %s %s", plant, row["number"], status, result)
            log.info("released %d order(s) at %s", len(pending), plant)
            self.stats.add("orders_released", len(pending))


def _number(value: Decimal, uom_ref) -> int | float:
    places = uom_ref.decimal_places if uom_ref is not None else 3
    q = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return int(q) if q == q.to_integral_value() else float(q)


def main(argv: list[str] | None = None) -> None:
    p = base.parser(
        "erp", "The ERP simulator and release driver (docs: connectors.simulators.erp)."
    )
    p.add_argument(
        "--release-every",
        type=float,
        default=base.env_default("erp", "release_every", 0.0),
        help="Seconds between releases (0: no release driver).",
    )
    p.add_argument(
        "--orders-per-plant", type=int, default=base.env_default("erp", "orders_per_plant", 1)
    )
    p.add_argument(
        "--max-orders-per-plant",
        type=int,
        default=base.env_default("erp", "max_orders_per_plant", 0),
        help="Stop releasing at a plant after this many orders (0: no limit).",
    )
    p.add_argument("--plants", default=base.env_default("erp", "plants", ""), help="e.g. P1,P2")
    args = p.parse_args(argv)
    base.configure_logging(args.log_level)
    sim = ErpSimulator(
        **base.simulator_options(args, "erp"),
        release_every=args.release_every,
        orders_per_plant=args.orders_per_plant,
        max_orders_per_plant=args.max_orders_per_plant,
        plants=[c.strip() for c in args.plants.split(",") if c.strip()] or None,
    )
    base.run(sim, args.host, args.port)


if __name__ == "__main__":
    main()
