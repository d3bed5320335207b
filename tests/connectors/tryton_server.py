"""A private Tryton server for tests: trytond from the locked ``erp`` extra, on SQLite in a
temporary directory, on a free port, over JSON-RPC.

Start-up, as Tryton wants it: the SQLite file must exist (trytond-admin does not create
it), ``trytond-admin -d DB -u production stock stock_lot quality --activate-dependencies``
activates and installs the modules with their dependencies (a further ``--all`` pass would
only update them again, half a minute on this machine), then ``trytond -d DB`` serves that
database (without ``-d`` the first JSON-RPC call fails with ``KeyError 'res.user'``,
because the pool of the database is never loaded).

:class:`TrytonPlant` is the ERP side of a plant as a Tryton user would set it up through the
client: a company, the warehouse's production location, products with codes, a BOM, stock
of the component, and quality controls on ``production:do``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx

from connectors.tryton.rpc import TrytonClient

from .mosquitto import free_port

BIN = Path(sys.executable).parent
TEMPLATES = Path(__file__).resolve().parents[2] / "var" / "tryton"
MODULES = ["production", "stock", "stock_lot", "quality"]
#: The stored fields of a stock move that the BOM's on_change proposes.
MOVE_FIELDS = {
    "product", "unit", "quantity", "from_location", "to_location", "planned_date",
    "company", "currency", "unit_price",
}  # fmt: skip
ADMIN_PASSWORD = "tryton-test-admin"


def available() -> bool:
    return (BIN / "trytond").exists() and (BIN / "trytond-admin").exists()


class TrytonServer:
    """``start()`` creates the database and serves it; ``stop()`` ends the process."""

    def __init__(self, directory: Path, database: str = "interlock") -> None:
        self.directory = directory
        self.database = database
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        (directory / "db").mkdir(parents=True, exist_ok=True)
        self.config = directory / "trytond.conf"
        self.config.write_text(
            "[database]\n"
            "uri = sqlite://\n"
            f"path = {directory / 'db'}\n"
            "[web]\n"
            f"listen = 127.0.0.1:{self.port}\n"
            "[session]\n"
            # The connector logs in once per delivery run; the default (5 failed logins per
            # minute) is not the point of these tests.
            "max_attempt = 100\n"
        )
        self.log = directory / "trytond.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.database}/"

    def _admin(self, *args: str) -> None:
        password_file = self.directory / "admin-password"
        password_file.write_text(ADMIN_PASSWORD + "\n")
        env = {**os.environ, "TRYTONPASSFILE": str(password_file)}
        with self.log.open("a") as log:
            subprocess.run(
                [str(BIN / "trytond-admin"), "-c", str(self.config), "-d", self.database, *args],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=600,
            )

    def _database(self) -> None:
        """The activated database: created once per trytond version and module list (about
        a minute on two busy cores), kept under ``var/`` and copied for every server."""
        import trytond

        target = self.directory / "db" / f"{self.database}.sqlite"
        template = TEMPLATES / f"trytond-{trytond.__version__}-{'-'.join(MODULES)}.sqlite"
        if template.exists():
            shutil.copyfile(template, target)
            return
        target.touch()
        self._admin("-u", *MODULES, "--activate-dependencies", "--email", "admin@example.com")
        TEMPLATES.mkdir(parents=True, exist_ok=True)
        partial = template.with_suffix(f".{os.getpid()}.partial")
        shutil.copyfile(target, partial)
        os.replace(partial, template)  # atomic: a parallel worker never copies half a file

    def start(self) -> TrytonServer:
        self._database()
        self.process = subprocess.Popen(
            [str(BIN / "trytond"), "-c", str(self.config), "-d", self.database],
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trytond exited: {self.log.read_text()[-2000:]}")
            try:
                httpx.post(
                    self.url + "rpc/",
                    json={"id": 0, "method": "common.server.version", "params": []},
                    timeout=1,
                )
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"trytond did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self) -> TrytonClient:
        return TrytonClient(self.url, login="admin", password=ADMIN_PASSWORD)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class TrytonPlant:
    """The plant's ERP data in Tryton, created through JSON-RPC like a user would."""

    def __init__(self, client: TrytonClient) -> None:
        self.c = client
        self.company = self._company()
        # The user works in that company from now on (as after choosing it in the client).
        self.c.model(
            "res.user",
            "write",
            [1],
            {"companies": [["add", [self.company]]], "company": self.company},
        )
        self.c._session = None  # log in again: the preferences now carry the company
        [self.warehouse] = self.c.model("stock.location", "search", [("type", "=", "warehouse")])
        [self.production_location] = self.c.model(
            "stock.location", "search", [("type", "=", "production")]
        )
        [self.storage] = self.c.model("stock.location", "search", [("code", "=", "STO")])
        [self.supplier] = self.c.model("stock.location", "search", [("code", "=", "SUP")])
        self.c.model(
            "stock.location",
            "write",
            [self.warehouse],
            {"production_location": self.production_location},
        )
        [self.unit] = self.c.model("product.uom", "search", [("symbol", "=", "u")])
        [self.kg] = self.c.model("product.uom", "search", [("symbol", "=", "kg")])

    def _company(self) -> int:
        existing = self.c.model("company.company", "search", [])
        if existing:
            return existing[0]
        [currency] = self.c.model(
            "currency.currency",
            "create",
            [{"name": "Euro", "code": "EUR", "symbol": "€", "rounding": Decimal("0.01")}],
        )
        [party] = self.c.model("party.party", "create", [{"name": "Plant Nine GmbH"}])
        [company] = self.c.model(
            "company.company", "create", [{"party": party, "currency": currency}]
        )
        return company

    def product(self, code: str, name: str, *, uom: int, producible: bool = False) -> int:
        [template] = self.c.model(
            "product.template",
            "create",
            [
                {
                    "name": name,
                    "code": code,
                    "type": "goods",
                    "default_uom": uom,
                    "producible": producible,
                    "list_price": Decimal("10"),
                    "products": [["create", [{}]]],
                }
            ],
        )
        [product] = self.c.model("product.product", "search", [("template", "=", template)])
        return product

    def bom(self, name: str, *, output: int, components: list[tuple[int, Decimal, int]]) -> int:
        [bom] = self.c.model(
            "production.bom",
            "create",
            [
                {
                    "name": name,
                    "inputs": [
                        [
                            "create",
                            [
                                {"product": p, "quantity": float(q), "unit": u}
                                for p, q, u in components
                            ],
                        ]
                    ],
                    "outputs": [
                        ["create", [{"product": output, "quantity": 1.0, "unit": self.unit}]]
                    ],
                }
            ],
        )
        return bom

    def receive_stock(self, product: int, quantity: float, uom: int) -> None:
        """Component stock in the warehouse (a supplier move, done)."""
        moves = self.c.model(
            "stock.move",
            "create",
            [
                {
                    "product": product,
                    "unit": uom,
                    "quantity": quantity,
                    "from_location": self.supplier,
                    "to_location": self.storage,
                    "company": self.company,
                    "unit_price": Decimal("1"),
                    "currency": self.c.search_read(
                        "company.company", [("id", "=", self.company)], ["currency"]
                    )[0]["currency"],
                }
            ],
        )
        self.c.model("stock.move", "do", moves)

    def production(self, *, product: int, bom: int, quantity: float) -> int:
        """A production order in draft, its moves exploded from the BOM (as the client's
        on_change does), planned for today."""
        today = dt.date.today()
        values = {
            "company": self.company,
            "warehouse": self.warehouse,
            "location": self.production_location,
            "product": product,
            "bom": bom,
            "unit": self.unit,
            "quantity": quantity,
            "planned_date": today,
            "planned_start_date": today,
        }
        changes = self.c.model("production", "on_change_bom", values)

        def moves(field: str) -> list[dict]:
            # on_change answers {"add": [[index, values], ...]}; keep the stored fields.
            rows = []
            for entry in (changes.get(field) or {}).get("add", []):
                row = entry[1] if isinstance(entry, list) else entry
                rows.append({k: v for k, v in row.items() if k in MOVE_FIELDS})
            return rows

        [production] = self.c.model(
            "production",
            "create",
            [
                {
                    **values,
                    "inputs": [["create", moves("inputs")]],
                    "outputs": [["create", moves("outputs")]],
                }
            ],
        )
        return production

    def release(self, production: int) -> str:
        """ "Wait": Tryton's release of a production to the shop floor (it gets its number)."""
        self.c.model("production", "wait", [production])
        [row] = self.c.search_read("production", [("id", "=", production)], ["number"])
        return row["number"]

    def quality_control(self, name: str, *, product: int) -> int:
        [control] = self.c.model(
            "quality.control",
            "create",
            [
                {
                    "name": name,
                    "operations": ["production:do"],
                    "company": self.company,
                    "product": product,
                    "frequency": 1.0,
                    "points": [
                        [
                            "create",
                            [
                                {
                                    "name": "flatness",
                                    "string": "Flatness (mm)",
                                    "type_": "float",
                                    "tolerance_lower": 0.0,
                                    "tolerance_upper": 0.2,
                                }
                            ],
                        ]
                    ],
                }
            ],
        )
        return control

    def inspect(self, *, control: int, production: int) -> int:
        """A pending inspection of the production, as the quality user creates it."""
        [inspection] = self.c.model(
            "quality.inspection",
            "create",
            [{"control": control, "origin": f"production,{production}", "company": self.company}],
        )
        return inspection

    def pass_inspection(self, inspection: int, flatness: float = 0.1) -> str:
        self.c.model(
            "quality.inspection", "write", [inspection], {"points": {"flatness": flatness}}
        )
        self.c.model("quality.inspection", "process", [inspection])
        [row] = self.c.search_read("quality.inspection", [("id", "=", inspection)], ["state"])
        return row["state"]

    def read_production(self, production: int) -> dict:
        [row] = self.c.search_read(
            "production",
            [("id", "=", production)],
            ["number", "state", "outputs", "quality_inspections"],
        )
        row["output_moves"] = self.c.search_read(
            "stock.move",
            [("id", "in", row["outputs"])],
            ["state", "quantity", "lot.number", "product.code"],
        )
        return row
