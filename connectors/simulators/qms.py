"""The QMS simulator (``/qms/<plant>``, port 8103): one QMS per demo plant.

It takes ``inspection.request`` from Interlock (the finished-goods lot of a completed
order), opens the inspection at once (``inspection.requested``) and, ``delay_seconds``
later (±30 %), records its result (``inspection.recorded``) in the plant's own outcome
codes (P1 ``A``/``R``/``AC``, P2 ``PASS``/``FAIL``/``COND``, P3 ``OK``/``NOK``), through
Interlock's inbound API with the plant's QMS key. The outcome is drawn when the request is
applied, by the weights ``pass_ratio`` / ``fail_ratio`` / ``conditional_ratio`` (a plant
without conditional releases answers a pass instead).

    python -m connectors.simulators.qms --port 8103 --delay-seconds 2 --fail-ratio 0.1
    curl localhost:8103/qms/_inspections
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from . import base
from .world import load_world

log = logging.getLogger("interlock.simulators.qms")

SCHEMA = """
CREATE TABLE IF NOT EXISTS inspections (
    plant TEXT NOT NULL, number TEXT NOT NULL,
    request_key TEXT NOT NULL, correlation_id TEXT NOT NULL DEFAULT '',
    order_number TEXT NOT NULL DEFAULT '', lot TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- pass | fail | conditional
    result_code TEXT NOT NULL,      -- the plant's code for it
    due_at REAL NOT NULL,
    requested_status TEXT, recorded_status TEXT,   -- Interlock's answers (NULL: not sent)
    created_at TEXT NOT NULL,
    PRIMARY KEY (plant, number)
);
"""


@dataclass
class QmsControls(base.Controls):
    delay_seconds: float = 2.0
    pass_ratio: float = 0.85
    fail_ratio: float = 0.05
    conditional_ratio: float = 0.10

    def update(self, changes):
        # Ratios are weights, not shares: any non-negative numbers.
        ratios = {k: changes.pop(k) for k in list(changes) if k.endswith("_ratio")}
        super().update(changes)
        for name, value in ratios.items():
            if float(value) < 0:
                raise ValueError(f"{name} must be ≥ 0")
            setattr(self, name, float(value))


class QmsSimulator(base.Simulator):
    name = "qms"
    plant_in_path = True
    message_types = frozenset({"inspection.request"})
    extra_schema = SCHEMA
    controls: QmsControls

    def __init__(self, *, fixtures: str | None = None, **kwargs) -> None:
        kwargs.setdefault("controls", QmsControls())
        super().__init__(**kwargs)
        self.world = load_world(fixtures)
        self.wakes = {plant: threading.Event() for plant in self.world}

    def apply(self, message: dict, plant: str) -> tuple[str | None, dict]:
        world = self.world.get(plant)
        if world is None:
            raise base.Rejected(f"no QMS at plant {plant!r}")
        p = message["payload"]
        if not p.get("lot"):
            raise base.Rejected("an inspection request names the lot to inspect")
        # One inspection per lot: a second request for it (another key) is the same one.
        number = f"QI-{p['lot']}"
        row = self.db.execute(
            "SELECT number FROM inspections WHERE plant = ? AND number = ?", (plant, number)
        ).fetchone()
        if row is not None:
            return number, {"inspection": number, "already": True}
        c = self.controls
        outcome = self.random.choices(
            ["pass", "fail", "conditional"],
            weights=[c.pass_ratio, c.fail_ratio, c.conditional_ratio],
        )[0]
        if outcome == "conditional" and "conditional" not in world.inspection:
            # This plant has no conditional release: it records a pass, and a pass has
            # only conforming result lines (Interlock quarantines anything else).
            outcome = "pass"
        delay = c.delay_seconds * self.random.uniform(0.7, 1.3)
        self.db.execute(
            "INSERT INTO inspections (plant, number, request_key, correlation_id, order_number,"
            " lot, outcome, result_code, due_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                plant,
                number,
                message["idempotency_key"],
                str(message.get("correlation_id") or ""),
                str(p.get("order") or ""),
                str(p["lot"]),
                outcome,
                world.outcome_code(outcome),
                time.time() + delay,
                base.iso(base.utcnow()),
            ),
        )
        return number, {"inspection": number, "outcome": outcome, "due_in_seconds": delay}

    def after_commit(self, applied: list[dict]) -> None:
        for message in applied:
            self.wakes[message["plant"]].set()

    # --- answering ----------------------------------------------------------------------
    def background(self):
        return [self._answerer(plant) for plant in sorted(self.world)]

    def _answerer(self, plant: str):
        def answer_plant() -> None:
            wake = self.wakes[plant]
            while not self.stop.is_set():
                wait = self.answer_due(plant)
                wake.wait(min(wait, 1.0))
                wake.clear()

        answer_plant.__name__ = f"answer_{plant}"
        return answer_plant

    def _envelope(self, row, type_: str, payload: dict) -> dict:
        return base.envelope(
            source=f"QMS-{row['plant']}",
            plant=row["plant"],
            type_=type_,
            payload=payload,
            occurred_at=base.utcnow(),
            correlation_id=row["correlation_id"] or None,
        )

    def answer_due(self, plant: str) -> float:
        """Open new inspections in Interlock and record the results that are due."""
        opened = self.query(
            "SELECT * FROM inspections WHERE plant = ? AND requested_status IS NULL "
            "ORDER BY created_at",
            (plant,),
        )
        if opened:
            envs = [
                self._envelope(
                    r,
                    "inspection.requested",
                    {
                        "inspection": r["number"],
                        "lot": r["lot"],
                        **({"order": r["order_number"]} if r["order_number"] else {}),
                        "plan": "FINAL",
                    },
                )
                for r in opened
            ]
            self._send(plant, opened, envs, "requested_status")
        due = self.query(
            "SELECT * FROM inspections WHERE plant = ? AND requested_status IS NOT NULL "
            "AND recorded_status IS NULL AND due_at <= ? ORDER BY due_at",
            (plant, time.time()),
        )
        if due:
            envs = [self._envelope(r, "inspection.recorded", self._result(r)) for r in due]
            self._send(plant, due, envs, "recorded_status")
        nxt = self.query(
            "SELECT MIN(due_at) AS due FROM inspections WHERE plant = ? AND recorded_status IS NULL",
            (plant,),
        )[0]["due"]
        return max(0.05, (nxt - time.time()) if nxt else 1.0)

    def _result(self, row) -> dict:
        ok = row["outcome"] == "pass"
        lines = [
            {"characteristic": "dimensions", "value": 12.02, "ok": True},
            {"characteristic": "weld seam", "ok": ok},
        ]
        payload = {
            "inspection": row["number"],
            "lot": row["lot"],
            "result": row["result_code"],
            "inspector": f"qms-{row['plant'].lower()}",
            "results": lines if row["outcome"] != "pass" else [dict(lines[0])],
        }
        if row["order_number"]:
            payload["order"] = row["order_number"]
        return payload

    def _send(self, plant: str, rows, envs: list[dict], column: str) -> None:
        results = self.client.post(f"QMS-{plant}", envs)
        if results is None:
            if self.stop.is_set():
                return
            results = [{"status": "refused"}] * len(rows)
        with self.transaction() as db:
            for row, result in zip(rows, results, strict=True):
                status = result.get("status", "?")
                db.execute(
                    f"UPDATE inspections SET {column} = ? WHERE plant = ? AND number = ?",  # noqa: S608
                    (status, plant, row["number"]),
                )
                if status not in ("accepted", "parked", "duplicate"):
                    log.warning("%s %s: %s", plant, row["number"], result)

    def snapshot(self, plant: str) -> dict:
        """The inspections this QMS holds for ``plant`` (for Interlock's reconciliation):
        per inspection its order, lot, and result in the plant's code once recorded, with
        the counts per result."""
        inspections, counts = {}, {}
        for r in self.query(
            "SELECT number, order_number, lot, result_code, recorded_status FROM inspections"
            " WHERE plant = ? ORDER BY created_at",
            (plant,),
        ):
            recorded = r["recorded_status"] is not None
            inspections[r["number"]] = {
                "order": r["order_number"],
                "lot": r["lot"],
                "result": r["result_code"] if recorded else "",
                "status": "recorded" if recorded else "requested",
            }
            if recorded:
                counts[r["result_code"]] = counts.get(r["result_code"], 0) + 1
        return {"system": "qms", "plant": plant, "inspections": inspections, "counts": counts}

    def extra_routes(self, method: str, parts: list[str], query: dict) -> base.Answer | None:
        if method == "GET" and parts == ["snapshot"]:
            if not query.get("plant"):
                return base.Answer(400, {"error": "snapshot needs ?plant="})
            return base.Answer(200, self.snapshot(query["plant"]))
        if method == "GET" and parts == ["_inspections"]:
            rows = self.query("SELECT * FROM inspections ORDER BY created_at")
            items = [dict(r) for r in rows]
            return base.Answer(200, {"count": len(items), "inspections": items})
        return None


def main(argv: list[str] | None = None) -> None:
    p = base.parser(
        "qms",
        "The QMS simulator of every demo plant (docs: connectors.simulators.qms).",
        QmsControls,
    )
    args = p.parse_args(argv)
    base.configure_logging(args.log_level)
    base.run(QmsSimulator(**base.simulator_options(args, "qms", QmsControls)), args.host, args.port)


if __name__ == "__main__":
    main()
