"""The WMS simulator (``/wms/<plant>``, port 8105): one warehouse system per demo plant.

It keeps the plant's stock by lot and location (opened from the fixtures' component lots,
in the plant's own codes), and takes what Interlock posts to a WMS:

| message | effect | reference |
|---|---|---|
| ``lot.move_to_hold`` ``{lot, item?, qty?, uom?, reason}`` | a move task of the lot to the ``HOLD`` location; the lot's stock is ``hold`` at once (no picks) | ``MTH-<plant>-000001`` |
| ``pick.pause`` ``{item, lot?, location?, reason, count?}`` | picks of the item (lot, location) pause | ``PP-<plant>-000001`` |
| ``pick.resume`` ``{item, lot?, location?, count?, reason?}`` | the matching pauses end | ``PR-<plant>-000001`` |
| ``shipment.hold`` ``{lot, item?, qty?, order?}`` | the lot may not ship (finished goods in QC) | ``SH-<plant>-000001`` |
| ``shipment.release_hold`` ``{lot, item?, qty?, order?}`` | its shipment holds are released; the lot's stock is unrestricted | ``SR-<plant>-000001`` |

Like the others it deduplicates on the idempotency key (the ledger) and takes the fault
controls (``POST /wms/_control``). It is also where cycle counts come from: ``POST
/wms/_count?plant=P1&lot=…&counted=…`` counts a lot at its location and reports
``cycle_count.recorded`` to Interlock with the plant's WMS key (book quantity from its own
stock), answering Interlock's result. A warehouse worker completes a task with ``POST
/wms/_tasks/<number>/complete``.

    python -m connectors.simulators.wms --port 8105
    curl localhost:8105/wms/_tasks   # also /_picks, /_shipments, /_stock, /_ledger
"""

from __future__ import annotations

import logging
from decimal import Decimal

from . import base
from .world import load_world

log = logging.getLogger("interlock.simulators.wms")

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    plant TEXT NOT NULL, lot TEXT NOT NULL, item TEXT NOT NULL,
    qty TEXT NOT NULL, uom TEXT NOT NULL DEFAULT '', location TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'unrestricted',     -- unrestricted | hold
    PRIMARY KEY (plant, lot)
);
CREATE TABLE IF NOT EXISTS tasks (
    plant TEXT NOT NULL, number TEXT NOT NULL, kind TEXT NOT NULL,
    lot TEXT NOT NULL, item TEXT NOT NULL DEFAULT '', qty TEXT NOT NULL DEFAULT '',
    from_location TEXT NOT NULL DEFAULT '', to_location TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'open',   -- open | done
    correlation_id TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, done_at TEXT,
    PRIMARY KEY (plant, number)
);
CREATE TABLE IF NOT EXISTS pick_holds (
    plant TEXT NOT NULL, reference TEXT NOT NULL, item TEXT NOT NULL,
    lot TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '', count TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'paused',     -- paused | resumed
    paused_at TEXT NOT NULL, resumed_at TEXT, resumed_by TEXT,
    PRIMARY KEY (plant, reference)
);
CREATE TABLE IF NOT EXISTS shipment_holds (
    plant TEXT NOT NULL, reference TEXT NOT NULL, lot TEXT NOT NULL,
    item TEXT NOT NULL DEFAULT '', qty TEXT NOT NULL DEFAULT '', order_number TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'held',        -- held | released
    held_at TEXT NOT NULL, released_at TEXT, released_by TEXT,
    PRIMARY KEY (plant, reference)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

MESSAGE_TYPES = frozenset(
    {"lot.move_to_hold", "pick.pause", "pick.resume", "shipment.hold", "shipment.release_hold"}
)
HOLD_LOCATION = "HOLD"


def _text(value) -> str:
    return "" if value in (None, "") else str(value)


class WmsSimulator(base.Simulator):
    name = "wms"
    plant_in_path = True
    message_types = MESSAGE_TYPES
    extra_schema = SCHEMA

    def __init__(self, *, fixtures: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.world = load_world(fixtures)
        self._open_stock()

    def _open_stock(self) -> None:
        """A fresh WMS holds the fixtures' component lots, each at one location."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM stock LIMIT 1").fetchone():
                return
            for plant in self.world.values():
                for n, lot in enumerate(plant.lots, start=1):
                    db.execute(
                        "INSERT INTO stock (plant, lot, item, qty, uom, location)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (plant.code, lot.number, lot.item, str(lot.qty), lot.uom, f"A-{n:02d}"),
                    )

    def _next(self, db, prefix: str, plant: str) -> str:
        name = f"{prefix}:{plant}"
        row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        value = (row["value"] if row else 0) + 1
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )
        return f"{prefix}-{plant}-{value:06d}"

    def _stock(self, db, plant: str, lot: str):
        return db.execute(
            "SELECT * FROM stock WHERE plant = ? AND lot = ?", (plant, lot)
        ).fetchone()

    def _learn(self, db, plant: str, p: dict, location: str) -> None:
        """A lot the WMS has not stored yet (a receipt it was not told of) is stored now;
        one stored without its item learns it from a message that names it."""
        known = self._stock(db, plant, p["lot"])
        if known is not None and not known["item"] and p.get("item"):
            db.execute(
                "UPDATE stock SET item = ? WHERE plant = ? AND lot = ?",
                (str(p["item"]), plant, p["lot"]),
            )
        if known is None:
            db.execute(
                "INSERT INTO stock (plant, lot, item, qty, uom, location) VALUES (?,?,?,?,?,?)",
                (
                    plant,
                    p["lot"],
                    _text(p.get("item")),
                    _text(p.get("qty")) or "0",
                    _text(p.get("uom")),
                    location,
                ),
            )

    # --- the messages -------------------------------------------------------------------
    def apply(self, message: dict, plant: str) -> tuple[str | None, dict]:
        if plant not in self.world:
            raise base.Rejected(f"no WMS at plant {plant!r}")
        db, p, type_ = self.db, message["payload"], message["type"]
        now = base.iso(base.utcnow())

        def need(*names: str) -> None:
            missing = [n for n in names if p.get(n) in (None, "")]
            if missing:
                raise base.Rejected(f"{type_} needs {', '.join(missing)}")

        if type_ == "lot.move_to_hold":
            need("lot")
            self._learn(db, plant, p, "RECEIVING")
            stock = self._stock(db, plant, p["lot"])
            number = self._next(db, "MTH", plant)
            db.execute(
                "INSERT INTO tasks (plant, number, kind, lot, item, qty, from_location,"
                " to_location, reason, correlation_id, created_at)"
                " VALUES (?, ?, 'move_to_hold', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    plant,
                    number,
                    p["lot"],
                    stock["item"],
                    stock["qty"],
                    stock["location"],
                    HOLD_LOCATION,
                    _text(p.get("reason")),
                    _text(message.get("correlation_id")),
                    now,
                ),
            )
            db.execute(
                "UPDATE stock SET status = 'hold' WHERE plant = ? AND lot = ?", (plant, p["lot"])
            )
            return number, {
                "task": number,
                "lot": p["lot"],
                "from": stock["location"],
                "to": HOLD_LOCATION,
                "stock": "hold",
            }
        if type_ == "pick.pause":
            need("item")
            reference = self._next(db, "PP", plant)
            db.execute(
                "INSERT INTO pick_holds (plant, reference, item, lot, location, reason, count,"
                " paused_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    plant,
                    reference,
                    str(p["item"]),
                    _text(p.get("lot")),
                    _text(p.get("location")),
                    _text(p.get("reason")),
                    _text(p.get("count")),
                    now,
                ),
            )
            return reference, {
                "paused": {"item": p["item"], "lot": p.get("lot"), "location": p.get("location")}
            }
        if type_ == "pick.resume":
            need("item")
            reference = self._next(db, "PR", plant)
            sql = "SELECT reference FROM pick_holds WHERE plant = ? AND item = ? AND status = 'paused'"
            args: list = [plant, str(p["item"])]
            for column in ("lot", "count"):
                if p.get(column):
                    sql, args = sql + f" AND {column} = ?", [*args, str(p[column])]
            held = [r["reference"] for r in db.execute(sql, args).fetchall()]
            for ref in held:
                db.execute(
                    "UPDATE pick_holds SET status = 'resumed', resumed_at = ?, resumed_by = ?"
                    " WHERE plant = ? AND reference = ?",
                    (now, reference, plant, ref),
                )
            return reference, {"resumed": held}
        if type_ == "shipment.hold":
            need("lot")
            self._learn(db, plant, p, "QC")
            reference = self._next(db, "SH", plant)
            db.execute(
                "INSERT INTO shipment_holds (plant, reference, lot, item, qty, order_number,"
                " held_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    plant,
                    reference,
                    p["lot"],
                    _text(p.get("item")),
                    _text(p.get("qty")),
                    _text(p.get("order")),
                    now,
                ),
            )
            db.execute(
                "UPDATE stock SET status = 'hold' WHERE plant = ? AND lot = ?", (plant, p["lot"])
            )
            return reference, {"held": p["lot"]}
        if type_ == "shipment.release_hold":
            need("lot")
            self._learn(db, plant, p, "QC")
            reference = self._next(db, "SR", plant)
            held = [
                r["reference"]
                for r in db.execute(
                    "SELECT reference FROM shipment_holds WHERE plant = ? AND lot = ?"
                    " AND status = 'held'",
                    (plant, p["lot"]),
                ).fetchall()
            ]
            for ref in held:
                db.execute(
                    "UPDATE shipment_holds SET status = 'released', released_at = ?,"
                    " released_by = ? WHERE plant = ? AND reference = ?",
                    (now, reference, plant, ref),
                )
            db.execute(
                "UPDATE stock SET status = 'unrestricted' WHERE plant = ? AND lot = ?",
                (plant, p["lot"]),
            )
            return reference, {"lot": p["lot"], "released": held, "stock": "unrestricted"}
        raise base.Rejected(f"unknown type {type_!r}")  # pragma: no cover - checked before

    # --- what people do in the warehouse --------------------------------------------------
    def complete_task(self, number: str) -> dict | None:
        """A worker did the move: the lot is at the task's target location."""
        with self.transaction() as db:
            task = db.execute("SELECT * FROM tasks WHERE number = ?", (number,)).fetchone()
            if task is None:
                return None
            if task["status"] == "open":
                db.execute(
                    "UPDATE tasks SET status = 'done', done_at = ? WHERE number = ?",
                    (base.iso(base.utcnow()), number),
                )
                db.execute(
                    "UPDATE stock SET location = ? WHERE plant = ? AND lot = ?",
                    (task["to_location"], task["plant"], task["lot"]),
                )
            return dict(db.execute("SELECT * FROM tasks WHERE number = ?", (number,)).fetchone())

    def count_envelope(self, plant: str, lot: str, counted: Decimal, number: str) -> dict:
        """``cycle_count.recorded`` of a count of ``lot`` (book quantity: this WMS's)."""
        with self.transaction() as db:
            stock = self._stock(db, plant, lot)
        if stock is None:
            raise base.Rejected(f"lot {lot} is not stored at {plant}")
        return base.envelope(
            source=f"WMS-{plant}",
            plant=plant,
            type_="cycle_count.recorded",
            payload={
                "count": number,
                "item": stock["item"],
                "lot": lot,
                "location": stock["location"],
                "counted_qty": _number(counted),
                "system_qty": _number(Decimal(stock["qty"])),
                "uom": stock["uom"],
            },
            occurred_at=base.utcnow(),
        )

    def _count(self, query: dict) -> base.Answer:
        plant, lot = query.get("plant", ""), query.get("lot", "")
        try:
            counted = Decimal(query.get("counted", ""))
        except ArithmeticError:
            return base.Answer(400, {"error": "counted must be a number"})
        if plant not in self.world or not lot or not counted.is_finite() or counted < 0:
            return base.Answer(400, {"error": "give plant, lot and counted (≥ 0)"})
        with self.transaction() as db:
            number = query.get("count") or self._next(db, "CC", plant)
        try:
            env = self.count_envelope(plant, lot, counted, number)
        except base.Rejected as exc:
            return base.Answer(404, {"error": str(exc)})
        results = self.client.post(f"WMS-{plant}", [env])
        return base.Answer(200, {"count": number, "envelope": env, "interlock": results})

    # --- read endpoints -----------------------------------------------------------------
    def extra_routes(self, method: str, parts: list[str], query: dict) -> base.Answer | None:
        if method == "POST" and parts == ["_count"]:
            return self._count(query)
        if method == "POST" and len(parts) == 3 and parts[0] == "_tasks" and parts[2] == "complete":
            task = self.complete_task(parts[1])
            if task is None:
                return base.Answer(404, {"error": f"no task {parts[1]}"})
            return base.Answer(200, task)
        if method != "GET":
            return None
        tables = {
            "_tasks": ("tasks", "created_at, number"),
            "_picks": ("pick_holds", "paused_at, reference"),
            "_shipments": ("shipment_holds", "held_at, reference"),
            "_stock": ("stock", "lot"),
        }
        if len(parts) == 1 and parts[0] in tables:
            table, order = tables[parts[0]]
            sql, params = f"SELECT * FROM {table}", []  # noqa: S608 - names from the dict above
            if query.get("plant"):
                sql, params = sql + " WHERE plant = ?", [query["plant"]]
            rows = [dict(r) for r in self.query(f"{sql} ORDER BY plant, {order}", params)]
            return base.Answer(200, {"count": len(rows), parts[0][1:]: rows})
        return None


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def main(argv: list[str] | None = None) -> None:
    p = base.parser(
        "wms", "The WMS simulator of every demo plant (docs: connectors.simulators.wms)."
    )
    args = p.parse_args(argv)
    base.configure_logging(args.log_level)
    base.run(WmsSimulator(**base.simulator_options(args, "wms")), args.host, args.port)


if __name__ == "__main__":
    main()
