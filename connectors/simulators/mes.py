"""The MES simulator (``/mes/<plant>``, port 8102): one MES per demo plant.

It takes ``production_order.release`` from Interlock and then **runs the order** the way
the plant's MES reports it, in the plant's own codes, through Interlock's inbound API with
that plant's key (``MES-P1`` …): the acknowledgment at the released routing and BOM
revision, per operation a start (the first with the issues of the reserved component lots)
and two yield confirmations (sequence 1 and 2, the second final), scrap now and then, and
the production completion with a finished-goods lot ``FG-<order>``. Events of one step go
in one bulk request.

The run is planned once, when the release is applied (so a restart resumes it from the
next unsent step, with the very same envelopes), including its faults: with
``duplicate_rate`` an event is sent again with the next step (Interlock answers
``duplicate``); with ``out_of_order_rate`` a step is swapped with the next one (Interlock
parks what comes too early — a start before the acknowledgment, a completion before the
final confirmation: the two places where MES's order matters — and applies it when its
predecessor arrives).

    python -m connectors.simulators.mes --port 8102 --duplicate-rate 0.1 --out-of-order-rate 0.2
    curl localhost:8102/mes/_runs   # the runs and how far they are; /_ledger, /_stats
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from . import base
from .world import PlantWorld, load_world

log = logging.getLogger("interlock.simulators.mes")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    plant TEXT NOT NULL, number TEXT NOT NULL,
    plan TEXT NOT NULL,             -- JSON: list of steps, each a list of envelopes
    next_step INTEGER NOT NULL DEFAULT 0,
    due_at REAL NOT NULL,           -- epoch seconds the next step is due
    status TEXT NOT NULL DEFAULT 'running',
    duplicates INTEGER NOT NULL DEFAULT 0, swaps INTEGER NOT NULL DEFAULT 0,
    received_at TEXT NOT NULL, finished_at TEXT,
    answers TEXT NOT NULL DEFAULT '{}',   -- Interlock's answers by status
    PRIMARY KEY (plant, number)
);
"""


@dataclass
class MesControls(base.Controls):
    duplicate_rate: float = 0.0  # share of events sent twice
    out_of_order_rate: float = 0.0  # chance of each of the two swaps (see plan())
    step_delay: float = 0.5  # seconds between the steps of a run
    scrap_rate: float = 0.5  # share of operations that declare scrap


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class MesSimulator(base.Simulator):
    name = "mes"
    plant_in_path = True
    message_types = frozenset({"production_order.release"})
    extra_schema = SCHEMA
    controls: MesControls

    def __init__(self, *, fixtures: str | None = None, **kwargs) -> None:
        kwargs.setdefault("controls", MesControls())
        super().__init__(**kwargs)
        self.world = load_world(fixtures)
        self.wakes = {plant: threading.Event() for plant in self.world}

    def after_commit(self, applied: list[dict]) -> None:
        for message in applied:
            self.wakes[message["plant"]].set()

    # --- the release --------------------------------------------------------------------
    def apply(self, message: dict, plant: str) -> tuple[str | None, dict]:
        world = self.world.get(plant)
        if world is None:
            raise base.Rejected(f"no MES at plant {plant!r}")
        p = message["payload"]
        missing = [n for n in ("order", "qty", "uom", "operations") if not p.get(n)]
        if missing:
            raise base.Rejected(f"a release needs {', '.join(missing)}")
        number = str(p["order"])
        reference = f"MES-{plant}-{number}"
        if self.db.execute(
            "SELECT 1 FROM runs WHERE plant = ? AND number = ?", (plant, number)
        ).fetchone():
            return reference, {"order": number, "run": "already running"}
        steps, dups, swaps = self.plan(world, p, message.get("correlation_id"))
        self.db.execute(
            "INSERT INTO runs (plant, number, plan, due_at, duplicates, swaps, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                plant,
                number,
                json.dumps(steps),
                time.time(),
                dups,
                swaps,
                base.iso(base.utcnow()),
            ),
        )
        return reference, {
            "order": number,
            "run": "planned",
            "steps": len(steps),
            "duplicates": dups,
            "swaps": swaps,
        }

    def plan(
        self, world: PlantWorld, p: dict, correlation_id: str | None
    ) -> tuple[list[list[dict]], int, int]:
        """The run of one released order as steps of envelopes, with its faults."""
        rnd, c = self.random, self.controls
        now = base.utcnow()
        order = str(p["order"])
        uom = world.native_uom(str(p["uom"]))
        target = world.to_native(p["qty"], str(p["uom"]), uom)
        clock = [0]

        def env(type_: str, payload: dict) -> dict:
            clock[0] += 1
            return base.envelope(
                source=f"MES-{world.code}",
                plant=world.code,
                type_=type_,
                payload=payload,
                occurred_at=now + (clock[0] * dt.timedelta(seconds=c.step_delay)),
                correlation_id=correlation_id,
            )

        steps: list[list[dict]] = [
            [
                env(
                    "production_order.acknowledged",
                    {
                        "order": order,
                        "routing_revision": str(p.get("routing_revision", "")),
                        "bom_revision": str(p.get("bom_revision", "")),
                    },
                )
            ]
        ]
        first = (target * Decimal("0.6")).quantize(Decimal(1), ROUND_DOWN)
        for i, op in enumerate(p["operations"]):
            operation = str(op["operation"])
            start = [
                env(
                    "operation.started",
                    {
                        "order": order,
                        "operation": operation,
                        "work_center": world.native_work_center(str(op["work_center"])),
                    },
                )
            ]
            if i == 0:
                start += self._issues(world, p, order, operation, env)
            steps.append(start)
            confirmations = []
            if first > 0:
                confirmations.append((1, first, False))
            confirmations.append((len(confirmations) + 1, target - first, True))
            for sequence, qty, final in confirmations:
                payload = {
                    "order": order,
                    "operation": operation,
                    "sequence": sequence,
                    "qty": _num(qty),
                    "uom": uom,
                }
                if final:
                    payload["final"] = True
                steps.append([env("operation.confirmed", payload)])
            if rnd.random() < c.scrap_rate:
                steps[-1].append(
                    env(
                        "scrap.declared",
                        {
                            "order": order,
                            "operation": operation,
                            "qty": rnd.randint(1, 3),
                            "uom": uom,
                            "reason": rnd.choice(world.scrap_reasons),
                        },
                    )
                )
        steps.append(
            [
                env(
                    "production.completed",
                    {"order": order, "lot": f"FG-{order}", "qty": _num(target), "uom": uom},
                )
            ]
        )
        # Faults, decided now so that a resumed run repeats them exactly. Out of order
        # where order matters (elsewhere Interlock would not even notice): the first start
        # before the acknowledgment, the completion before the last confirmation.
        swaps = 0
        for i in sorted({0, len(steps) - 2}):
            if rnd.random() < c.out_of_order_rate:
                steps[i], steps[i + 1] = steps[i + 1], steps[i]
                swaps += 1
        dups = 0
        originals = [list(step) for step in steps]  # a copy is never copied again
        for i, step in enumerate(originals):
            again = [e for e in step if rnd.random() < c.duplicate_rate]
            if again:
                dups += len(again)
                if i + 1 < len(steps):
                    steps[i + 1] = steps[i + 1] + again
                else:
                    steps.append(again)
        return steps, dups, swaps

    def _issues(self, world: PlantWorld, p: dict, order: str, operation: str, env) -> list[dict]:
        out = []
        for comp in p.get("components") or []:
            item = world.native_item(str(comp["item"]))
            lot = world.lot_for(item)
            if lot is None:
                log.warning("%s: no lot of %s to issue to %s", world.code, item, order)
                continue
            spec = next(
                (
                    c
                    for pr in world.products
                    for c in pr.components
                    if world.canonical_item(c.item) == world.canonical_item(item)
                ),
                None,
            )
            issue_uom = spec.issue_uom if spec else world.native_uom(str(comp["uom"]))
            boxes = world.uom_ref(issue_uom) is not None and world.uom_ref(issue_uom).factor > 1
            qty = world.to_native(comp["qty"], str(comp["uom"]), issue_uom, up=boxes)
            if qty <= 0:
                continue
            out.append(
                env(
                    "material.issued",
                    {
                        "order": order,
                        "item": item,
                        "lot": lot.number,
                        "qty": _num(qty),
                        "uom": issue_uom,
                        "operation": operation,
                    },
                )
            )
        return out

    # --- running the orders -------------------------------------------------------------
    def background(self):
        return [self._runner(plant) for plant in sorted(self.world)]

    def _runner(self, plant: str):
        def run_plant() -> None:
            wake = self.wakes[plant]
            while not self.stop.is_set():
                wait = self.run_due(plant)
                wake.wait(min(wait, 1.0))
                wake.clear()

        run_plant.__name__ = f"run_{plant}"
        return run_plant

    def run_due(self, plant: str) -> float:
        """Send the next step of every run of ``plant`` that is due; seconds to the next."""
        now = time.time()
        rows = self.query(
            "SELECT number, plan, next_step, answers FROM runs WHERE plant = ? AND "
            "status = 'running' AND due_at <= ? ORDER BY due_at",
            (plant, now),
        )
        for row in rows:
            if self.stop.is_set():
                return 1.0
            steps = json.loads(row["plan"])
            step = row["next_step"]
            results = self.client.post(f"MES-{plant}", steps[step])
            if results is None and self.stop.is_set():
                return 1.0
            answers = json.loads(row["answers"])
            for result in results or [{"status": "refused"}] * len(steps[step]):
                answers[result.get("status", "?")] = answers.get(result.get("status", "?"), 0) + 1
                if result.get("status") in ("quarantined", "rejected", "conflict"):
                    log.warning("%s %s: %s", plant, row["number"], result)
            done = step + 1 >= len(steps)
            with self.transaction() as db:
                db.execute(
                    "UPDATE runs SET next_step = ?, due_at = ?, answers = ?, status = ?,"
                    " finished_at = ? WHERE plant = ? AND number = ?",
                    (
                        step + 1,
                        time.time() + self.controls.step_delay,
                        json.dumps(answers),
                        "done" if done else "running",
                        base.iso(base.utcnow()) if done else None,
                        plant,
                        row["number"],
                    ),
                )
            if done:
                self.stats.add("runs_done")
                log.info("%s: order %s reported complete", plant, row["number"])
        nxt = self.query(
            "SELECT MIN(due_at) AS due FROM runs WHERE plant = ? AND status = 'running'", (plant,)
        )[0]["due"]
        return max(0.05, (nxt - time.time()) if nxt else 1.0)

    def snapshot(self, plant: str) -> dict:
        """What this MES reported for ``plant`` (the steps sent so far; a duplicate counts
        once), for Interlock's reconciliation, in the plant's own units: per order the
        status of its run, the good quantity confirmed on its last operation and the
        scrap declared."""
        orders: dict[str, dict] = {}
        for r in self.query(
            "SELECT number, plan, next_step, status FROM runs WHERE plant = ?", (plant,)
        ):
            seen: set[str] = set()
            produced: dict[str, Decimal] = {}
            scrapped, uom = Decimal(0), ""
            for step in json.loads(r["plan"])[: r["next_step"]]:
                for env in step:
                    fingerprint = json.dumps(env, sort_keys=True)
                    if fingerprint in seen:
                        continue
                    seen.add(fingerprint)
                    p = env["payload"]
                    if env["type"] == "operation.confirmed":
                        op = str(p["operation"])
                        produced[op] = produced.get(op, Decimal(0)) + Decimal(str(p["qty"]))
                        uom = uom or str(p.get("uom", ""))
                    elif env["type"] == "scrap.declared":
                        scrapped += Decimal(str(p["qty"]))
                        uom = uom or str(p.get("uom", ""))
            orders[r["number"]] = {
                "status": "completed" if r["status"] == "done" else "in_process",
                "produced_qty": _num(produced[max(produced)]) if produced else 0,
                "scrapped_qty": _num(scrapped),
                "uom": uom,
            }
        return {"system": "mes", "plant": plant, "orders": orders}

    def extra_routes(self, method: str, parts: list[str], query: dict) -> base.Answer | None:
        if method == "GET" and parts == ["snapshot"]:
            if not query.get("plant"):
                return base.Answer(400, {"error": "snapshot needs ?plant="})
            return base.Answer(200, self.snapshot(query["plant"]))
        if method == "GET" and parts == ["_runs"]:
            sql, params = "SELECT * FROM runs", []
            if query.get("plant"):
                sql, params = sql + " WHERE plant = ?", [query["plant"]]
            rows = self.query(sql + " ORDER BY received_at", params)
            runs = [
                {
                    "plant": r["plant"],
                    "order": r["number"],
                    "status": r["status"],
                    "step": r["next_step"],
                    "steps": len(json.loads(r["plan"])),
                    "duplicates": r["duplicates"],
                    "swaps": r["swaps"],
                    "answers": json.loads(r["answers"]),
                    "received_at": r["received_at"],
                    "finished_at": r["finished_at"],
                    **({"plan": json.loads(r["plan"])} if query.get("plan") else {}),
                }
                for r in rows
            ]
            return base.Answer(200, {"count": len(runs), "runs": runs})
        return None


def main(argv: list[str] | None = None) -> None:
    p = base.parser(
        "mes",
        "The MES simulator of every demo plant (docs: connectors.simulators.mes).",
        MesControls,
    )
    args = p.parse_args(argv)
    base.configure_logging(args.log_level)
    base.run(MesSimulator(**base.simulator_options(args, "mes", MesControls)), args.host, args.port)


if __name__ == "__main__":
    main()
