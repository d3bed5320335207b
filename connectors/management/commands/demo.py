"""``manage.py demo`` (what ``make demo`` runs): the whole system on one machine.

It migrates, loads the demo world (``seed_demo``, the rule packs, the component lots the
MES simulator issues from), issues fresh API keys for the ERP, MES and QMS systems and
fresh secrets for Interlock's deliveries to them, points the systems' base URLs at the
simulators, then supervises the processes of :func:`demo_processes` (web server, Celery
worker, Celery beat, the ERP simulator with its release driver, the MES and QMS
simulators) until Ctrl-C or SIGTERM, and stops every child cleanly.

Scenario 1 then runs by itself at all three plants: ERP releases orders, Interlock
publishes them to MES, MES reports the run, QMS inspects, ERP receives and settles.

MQTT / Sparkplug B: when a broker answers at ``INTERLOCK_MQTT_HOST``:``--mqtt-port`` the
demo starts the subscriber (``manage.py mqtt_subscribe``) against it; otherwise, when
Debian's ``mosquitto`` is installed (``make sysdeps``), it starts a private Mosquitto with
its persistence under ``<var>/mqtt`` and the subscriber. It says which, or why neither
(``--no-mqtt``, or no broker and no ``mosquitto``).

``--check`` starts everything, verifies that the admin, the API docs, the schema and a
Celery round trip answer, then that at least one order per plant reaches financially
posted (or says where the orders stopped and what is missing), and stops again (exit code
0 when all passed).

The keys reach the simulators in ``<var>/sim/keys.json`` (mode 0600, rewritten each run,
never committed: ``var/`` is ignored); the delivery secrets also reach the worker as the
environment variables the systems name (``credential_env``).

With no environment variables it needs no server: SQLite and kombu's filesystem broker
under ``INTERLOCK_VAR_DIR``. With ``DATABASE_URL`` / ``REDIS_URL`` set, the children use
PostgreSQL and Redis just the same, because they inherit the environment.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ..supervisor import ProcessSpec, RestartPolicy, Stop, Supervisor

__all__ = ["Command", "DemoContext", "ProcessSpec", "RestartPolicy", "Supervisor"]

DEMO_KEY_NAME = "demo"
#: Simulator → offset from ``--sim-port`` (8101: ERP 8101, MES 8102, QMS 8103).
SIMULATOR_PORTS = {"erp": 0, "mes": 1, "qms": 2, "wms": 4}  # 8104: the supplier portal


@dataclass(frozen=True)
class DemoContext:
    """What every demo process needs to know to be started."""

    host: str
    port: int
    var_dir: Path
    python: str = sys.executable
    sim_port: int = 8101
    release_every: float = 20.0
    orders_per_plant: int = 1
    max_orders_per_plant: int = 0
    simulators: bool = True
    mqtt: bool = True
    mqtt_port: int = 1883

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def sim_url(self, name: str) -> str:
        return f"http://{self.host}:{self.sim_port + SIMULATOR_PORTS[name]}/{name}"

    @property
    def keys_file(self) -> Path:
        return self.var_dir / "sim" / "keys.json"


def _web(ctx: DemoContext) -> ProcessSpec:
    # --noreload: the autoreloader forks a second process that outlives a terminate().
    return ProcessSpec(
        "web",
        [
            ctx.python,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "runserver",
            f"{ctx.host}:{ctx.port}",
            "--noreload",
        ],
        ready_url=f"{ctx.base_url}/admin/login/",
    )


def _worker(ctx: DemoContext) -> ProcessSpec:
    # Threads with low concurrency: no forked pool to clean up, and SQLite sees at most
    # two writers from the worker. Gossip/mingle/heartbeat only slow start-up on one machine.
    return ProcessSpec(
        "worker",
        [
            ctx.python,
            "-m",
            "celery",
            "-A",
            "interlock",
            "worker",
            "--pool=threads",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"demo-{ctx.port}@%h",
        ],
        # A worker is disposable by design (acks_late, leases, the sweeper): when it dies
        # (a broker outage with an unlucky kombu, an OOM kill), another takes its place.
        restart=RestartPolicy(),
    )


def _beat(ctx: DemoContext) -> ProcessSpec:
    return ProcessSpec(
        "beat",
        [
            ctx.python,
            "-m",
            "celery",
            "-A",
            "interlock",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(ctx.var_dir / "celerybeat-schedule"),
        ],
    )


def _simulator(name: str, *extra: str) -> Callable[[DemoContext], ProcessSpec | None]:
    # ``python -m`` rather than ``manage.py simulate``: a simulator is Django-free and
    # starts in a fraction of the time.
    def make(ctx: DemoContext) -> ProcessSpec | None:
        if not ctx.simulators:
            return None
        return ProcessSpec(
            f"sim-{name}",
            [
                ctx.python,
                "-m",
                f"connectors.simulators.{name}",
                "--host",
                ctx.host,
                "--port",
                str(ctx.sim_port + SIMULATOR_PORTS[name]),
                "--var-dir",
                str(ctx.var_dir),
                "--interlock-url",
                ctx.base_url,
                "--keys-file",
                str(ctx.keys_file),
                *extra,
            ],
            ready_url=f"{ctx.sim_url(name)}/_health",
        )

    make.__name__ = f"_sim_{name}"
    return make


def _erp_simulator(ctx: DemoContext) -> ProcessSpec | None:
    """The ERP simulator, which is also the release driver (orders come from ERP)."""
    spec = _simulator(
        "erp",
        "--release-every",
        str(ctx.release_every),
        "--orders-per-plant",
        str(ctx.orders_per_plant),
        "--max-orders-per-plant",
        str(ctx.max_orders_per_plant),
    )(ctx)
    return spec


MOSQUITTO = "/usr/sbin/mosquitto"


def mqtt_processes(ctx: DemoContext) -> tuple[list[ProcessSpec], str]:
    """The MQTT side of the demo and the sentence that says what it is: the Sparkplug B
    subscriber against a broker that answers, or against a private Mosquitto, or why not."""
    if not ctx.mqtt:
        return [], "MQTT: not started (--no-mqtt)."
    host = settings.INTERLOCK_MQTT_HOST
    subscriber = ProcessSpec(
        "mqtt-subscriber",
        [
            ctx.python,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "mqtt_subscribe",
            "--host",
            host,
            "--port",
            str(ctx.mqtt_port),
        ],
        restart=RestartPolicy(),
    )
    if not _port_free(host, ctx.mqtt_port):
        return [subscriber], (
            f"MQTT: a broker answers at {host}:{ctx.mqtt_port}; the Sparkplug B subscriber "
            "uses it (mappings: admin → Connectors → Sparkplug B metric mappings)."
        )
    mosquitto = shutil.which("mosquitto") or (MOSQUITTO if os.path.exists(MOSQUITTO) else None)
    if mosquitto is None:
        return [], (
            f"MQTT: not started: no broker at {host}:{ctx.mqtt_port} and no `mosquitto` "
            "(`make sysdeps` installs Debian's package), so the Sparkplug B subscriber would "
            "have nothing to read."
        )
    if host not in ("127.0.0.1", "localhost"):
        return [], (
            f"MQTT: not started: no broker at {host}:{ctx.mqtt_port}, and a private "
            "Mosquitto only listens on this machine (unset INTERLOCK_MQTT_HOST)."
        )
    folder = ctx.var_dir / "mqtt"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {ctx.mqtt_port} 127.0.0.1\n"
        "allow_anonymous true\n"
        # Started as root, mosquitto would switch to its own user and could not write here.
        f"user {getpass.getuser()}\n"
        "persistence true\n"
        f"persistence_location {folder}/\n"
    )
    broker = ProcessSpec("mosquitto", [mosquitto, "-c", str(config)], restart=RestartPolicy())
    return [broker, subscriber], (
        f"MQTT: started Mosquitto on 127.0.0.1:{ctx.mqtt_port} (persistence {folder}) and "
        "the Sparkplug B subscriber (mappings: admin → Connectors → Sparkplug B metric "
        "mappings)."
    )


#: The demo's processes, started in this order and stopped in reverse. To add one,
#: append a function that returns its ProcessSpec (or None when it is switched off).
DEMO_PROCESSES: list[Callable[[DemoContext], ProcessSpec | None]] = [
    _web,
    _worker,
    _beat,
    _simulator("mes"),
    _simulator("qms"),
    _simulator("wms"),
    _erp_simulator,  # last: it starts releasing orders at once
]


def demo_processes(ctx: DemoContext) -> list[ProcessSpec]:
    return [spec for make in DEMO_PROCESSES if (spec := make(ctx)) is not None]


def _get(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the server itself: connections in TIME_WAIT do not make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = (
        "Run the demo: migrate, seed, API keys, web server, Celery worker and beat, and the "
        "ERP / MES / QMS / WMS simulators that play scenario 1 at three plants."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("INTERLOCK_DEMO_PORT") or 8000),
            help="Web server port (default: INTERLOCK_DEMO_PORT or 8000).",
        )
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Start everything, check admin, API docs, schema and a Celery round trip, stop.",
        )
        parser.add_argument(
            "--startup-timeout",
            type=float,
            default=60.0,
            help="Seconds to wait for the web server and the Celery round trip.",
        )
        parser.add_argument(
            "--sim-port",
            type=int,
            default=int(os.environ.get("INTERLOCK_DEMO_SIM_PORT") or 8101),
            help="ERP simulator port; MES and QMS take the next two (default 8101).",
        )
        parser.add_argument(
            "--no-simulators",
            action="store_true",
            help="Only Interlock (web, worker, beat): no simulators, no releases.",
        )
        parser.add_argument(
            "--release-every",
            type=float,
            default=20.0,
            help="Seconds between the ERP simulator's releases (default 20).",
        )
        parser.add_argument(
            "--orders-per-plant", type=int, default=1, help="Orders per plant and release."
        )
        parser.add_argument(
            "--max-orders-per-plant",
            type=int,
            default=0,
            help="Stop releasing after this many orders per plant (default: no limit).",
        )
        parser.add_argument(
            "--mqtt-port",
            type=int,
            default=settings.INTERLOCK_MQTT_PORT,
            help="MQTT broker port for the Sparkplug B subscriber (default INTERLOCK_MQTT_PORT).",
        )
        parser.add_argument(
            "--no-mqtt",
            action="store_true",
            help="Start neither Mosquitto nor the Sparkplug B subscriber.",
        )
        parser.add_argument(
            "--flow-timeout",
            type=float,
            default=90.0,
            help="--check: seconds for one order per plant to reach financially posted.",
        )

    def handle(
        self,
        *args,
        port: int,
        host: str,
        check: bool,
        startup_timeout: float,
        sim_port: int,
        no_simulators: bool,
        release_every: float,
        orders_per_plant: int,
        max_orders_per_plant: int,
        flow_timeout: float,
        mqtt_port: int = 1883,
        no_mqtt: bool = False,
        **options,
    ):
        if not settings.DEBUG:
            raise CommandError(
                "The demo runs with DEBUG=1 (static files, no HTTPS redirect); `make demo` sets it."
            )
        ctx = DemoContext(
            host=host,
            port=port,
            var_dir=Path(settings.VAR_DIR),
            sim_port=sim_port,
            release_every=release_every,
            orders_per_plant=orders_per_plant,
            max_orders_per_plant=max_orders_per_plant,
            simulators=not no_simulators,
            mqtt=not no_mqtt,
            mqtt_port=mqtt_port,
        )
        if not _port_free(host, port):
            raise CommandError(
                f"{host}:{port} is in use; stop what runs there or pick another port "
                "(--port or INTERLOCK_DEMO_PORT)."
            )
        if ctx.simulators:
            for name, offset in SIMULATOR_PORTS.items():
                if not _port_free(host, sim_port + offset):
                    raise CommandError(
                        f"{host}:{sim_port + offset} (the {name.upper()} simulator) is in use; "
                        "stop what runs there or pick other ports (--sim-port or "
                        "INTERLOCK_DEMO_SIM_PORT)."
                    )
        log_dir = ctx.var_dir / "logs"
        for folder in (
            log_dir,
            ctx.var_dir / "broker" / "queue",
            ctx.var_dir / "broker" / "processed",
            ctx.var_dir / "results",
            ctx.var_dir / "sim",
        ):
            folder.mkdir(parents=True, exist_ok=True)

        self.say(
            f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"broker: {settings.CELERY_BROKER_URL.split('://', 1)[0]}, var: {ctx.var_dir}"
        )
        self.say("Migrating…")
        call_command("migrate", interactive=False, verbosity=0)
        self.say("Loading demo data…")
        call_command("seed_demo", verbosity=1, stdout=self.stdout)
        # The demo's behaviour comes from rule packs the board can read and change.
        call_command("load_rule_packs", verbosity=1, stdout=self.stdout)
        call_command("seed_demo_lots", verbosity=1, stdout=self.stdout)
        keys = self.issue_demo_keys()
        outbound = self.point_systems_at_simulators(ctx) if ctx.simulators else {}

        env = self.child_env(ctx)
        for credential in outbound.values():
            # The worker reads each system's secret from the variable the system names;
            # someone who set one keeps theirs (and the simulator is told the same).
            credential["secret"] = env.setdefault(credential.pop("env"), credential["secret"])
        self.write_keys_file(ctx, keys, outbound)
        supervisor = Supervisor(log_dir=log_dir, env=env, out=self.say, cwd=settings.BASE_DIR)
        failed: str | None = None
        # Ctrl-C, SIGTERM or SIGHUP: stop every child (a second one kills them at once).
        with supervisor.signals():
            try:
                specs = demo_processes(ctx)
                mqtt_specs, mqtt_note = mqtt_processes(ctx)
                specs[3:3] = mqtt_specs  # after web, worker and beat; before the simulators
                self.say(mqtt_note)
                self.mqtt_note = mqtt_note
                for spec in specs:
                    supervisor.start(spec)
                    self.say(f"Started {spec.name} (log: {supervisor.log_path(spec)})")
                failed = self.wait_until_ready(supervisor, specs, startup_timeout)
                if failed is None:
                    self.print_ready(ctx, keys, supervisor, specs)
                    if check:
                        failed = self.run_checks(ctx, env, startup_timeout)
                        if ctx.simulators:
                            flow = self.check_flow(flow_timeout, max_orders_per_plant)
                            failed = "; ".join(f for f in (failed, flow) if f) or None
                    else:
                        failed = self.watch(supervisor)
            except Stop:
                self.say("\nStopping… (again to kill at once)")
            finally:
                supervisor.stop()
        if failed:
            raise CommandError(failed)
        self.say("Demo checks passed." if check else "Stopped.")

    # --- steps ------------------------------------------------------------------------

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def issue_demo_keys(self) -> list[tuple[str, str]]:
        """Fresh keys for the demo ERP, MES and QMS systems (the simulators post with them);
        the previous demo run's keys are revoked, so only the keys printed below work."""
        from plants.choices import SystemKind
        from plants.models import ApiKey, ConnectedSystem
        from plants.services.apikeys import api_key_issue, api_key_revoke

        issued = []
        kinds = (SystemKind.ERP, SystemKind.MES, SystemKind.QMS, SystemKind.WMS)
        with transaction.atomic():
            for system in ConnectedSystem.objects.filter(kind__in=kinds, active=True).order_by(
                "kind", "code"
            ):
                for old in ApiKey.objects.filter(
                    system=system, name=DEMO_KEY_NAME, revoked_at__isnull=True
                ):
                    api_key_revoke(key=old, actor=None)
                _, raw = api_key_issue(system=system, name=DEMO_KEY_NAME, actor=None)
                issued.append((system.code, raw))
        return issued

    def point_systems_at_simulators(self, ctx: DemoContext) -> dict[str, dict[str, str]]:
        """Base URLs of the ERP / MES / QMS systems → this run's simulator ports, and a
        fresh delivery secret for each: ``{code: {"auth", "secret", "env"}}``.

        The demo owns these rows the way ``seed_demo`` owns the rest of the demo world (it
        sets them back from the fixtures each run); there is no service for editing a
        connected system yet, so the row is cleaned and saved here."""
        from plants.choices import SystemKind
        from plants.models import ConnectedSystem

        mounts = {
            SystemKind.ERP: "erp",
            SystemKind.MES: "mes",
            SystemKind.QMS: "qms",
            SystemKind.WMS: "wms",
        }
        outbound = {}
        with transaction.atomic():
            for system in ConnectedSystem.objects.filter(kind__in=list(mounts), active=True):
                name = mounts[system.kind]
                url = ctx.sim_url(name)
                if name != "erp":
                    url += "/" + system.code.rsplit("-", 1)[-1]  # MES-P1 → …/mes/P1, WMS-P1 …
                if system.base_url != url:
                    system.base_url = url
                    system.full_clean()
                    system.save(update_fields=["base_url"])
                if system.credential_env:
                    outbound[system.code] = {
                        "auth": system.auth_type,
                        "secret": secrets.token_urlsafe(24),
                        "env": system.credential_env,
                    }
        return outbound

    def write_keys_file(self, ctx: DemoContext, keys, outbound) -> None:
        """``<var>/sim/keys.json``, readable by this user only: the simulators' API keys
        and what Interlock must present to them."""
        data: dict = dict(keys)
        data["_outbound"] = outbound
        path = ctx.keys_file
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.chmod(tmp, 0o600)  # an older file may have had a wider mode
        os.replace(tmp, path)

    def child_env(self, ctx: DemoContext) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DEBUG", "1")
        env["INTERLOCK_VAR_DIR"] = str(ctx.var_dir)
        env["PYTHONUNBUFFERED"] = "1"
        # A result store lets `--check` see a task's answer; the filesystem one needs no
        # server. Someone who configured a backend keeps theirs.
        env.setdefault("CELERY_RESULT_BACKEND", (ctx.var_dir / "results").as_uri())
        return env

    def wait_until_ready(
        self, supervisor: Supervisor, specs: list[ProcessSpec], timeout: float
    ) -> str | None:
        deadline = time.monotonic() + timeout
        for spec in specs:
            if spec.ready_url is None:
                continue
            while _get(spec.ready_url, timeout=2) != 200:
                dead = supervisor.dead()
                if dead is not None:
                    return f"{dead.name} exited during start-up:\n{supervisor.tail(dead)}"
                if time.monotonic() > deadline:
                    return f"{spec.name} did not answer {spec.ready_url} within {timeout:.0f} s"
                time.sleep(0.3)
        # Processes without a URL (worker, beat) must at least still be alive.
        dead = supervisor.dead()
        if dead is not None:
            return f"{dead.name} exited during start-up:\n{supervisor.tail(dead)}"
        return None

    def print_ready(self, ctx, keys, supervisor: Supervisor, specs) -> None:
        base = ctx.base_url
        password = settings.INTERLOCK_DEMO_PASSWORD
        lines = [
            "",
            self.style.SUCCESS("Interlock demo is ready."),
            f"  Admin        {base}/admin/",
            f"  API docs     {base}/api/docs/",
            f"  API schema   {base}/api/schema/",
            "",
            f"Demo logins (password for all: {password}):",
            *(f"  {username:<10} {roles}" for username, roles in self.demo_logins()),
            "",
            "API keys, valid until the next `make demo` (header: Authorization: Api-Key <key>):",
            *(f"  {code:<10} {raw}" for code, raw in keys),
            "",
            *(self.where_to_look(ctx) if ctx.simulators else []),
            getattr(self, "mqtt_note", ""),
            "Logs: " + ", ".join(str(supervisor.log_path(s)) for s in specs),
            "Press Ctrl-C to stop.",
        ]
        self.say("\n".join(lines))

    def where_to_look(self, ctx: DemoContext) -> list[str]:
        base = ctx.base_url
        every = f"every {ctx.release_every:g} s" if ctx.release_every > 0 else "never"
        return [
            f"Scenario 1 runs by itself: the ERP simulator releases {ctx.orders_per_plant} "
            f"order(s) per plant {every}; MES runs them, QMS inspects, ERP receives and settles.",
            f"  Orders       {base}/admin/orchestrator/productionorder/"
            "   (state: released … financially posted)",
            f"  Gates        {base}/admin/orchestrator/gate/",
            f"  Outbox       {base}/admin/orchestrator/outboxmessage/",
            f"  Trace        {base}/admin/orchestrator/inboundmessage/trace/"
            "   (paste an order's correlation id)",
            f"  Workbench    {base}/admin/orchestrator/inboundmessage/"
            "   (quarantined and parked messages)",
            f"  ERP ledger   {ctx.sim_url('erp')}/_ledger   (stock: {ctx.sim_url('erp')}/_inventory)",
            f"  MES runs     {ctx.sim_url('mes')}/_runs",
            f"  QMS          {ctx.sim_url('qms')}/_inspections",
            f"  WMS          {ctx.sim_url('wms')}/_tasks   (also _picks, _shipments, _stock)",
            "  Scenarios    manage.py demo_scenario --list   (then: demo_scenario N)",
            f"  Faults       curl -X POST {ctx.sim_url('erp')}/_control "
            '-d \'{"fail_rate": 0.3, "throttle_rps": 5}\'',
            "",
        ]

    def check_flow(self, timeout: float, max_orders_per_plant: int = 0) -> str | None:
        """Wait until every plant has an order financially posted — with a finite run
        (``--max-orders-per-plant``), until every order is, and every message delivered;
        on a stall or at the time limit, say where the orders stopped and what is missing."""
        from connectors.management.flowcheck import wait_for_scenario_1

        return wait_for_scenario_1(
            timeout=timeout,
            out=self.say,
            per_plant=max(1, max_orders_per_plant),
            every_order=max_orders_per_plant > 0,
        )

    def demo_logins(self) -> list[tuple[str, str]]:
        from plants.choices import Role

        path = Path(settings.BASE_DIR) / "fixtures" / "demo" / "users.yaml"
        users = yaml.safe_load(path.read_text(encoding="utf-8"))["users"]
        labels = dict(Role.choices)
        rows = []
        for user in users:
            if user.get("superuser"):
                rows.append((user["username"], "superuser"))
                continue
            grants: dict[str, list[str]] = {}
            for grant in user.get("roles", []):
                grants.setdefault(labels[grant["role"]], []).append(
                    grant.get("plant", "all plants")
                )
            rows.append(
                (
                    user["username"],
                    "; ".join(f"{label} ({', '.join(plants)})" for label, plants in grants.items()),
                )
            )
        return rows

    def watch(self, supervisor: Supervisor) -> str | None:
        while True:
            dead = supervisor.dead()
            if dead is not None:
                return f"{dead.name} stopped unexpectedly:\n{supervisor.tail(dead)}"
            time.sleep(0.5)

    def run_checks(self, ctx: DemoContext, env: dict[str, str], timeout: float) -> str | None:
        problems = []
        static = settings.STATIC_URL.strip("/")
        paths = (
            "/admin/login/",
            "/api/docs/",
            "/api/schema/",
            # Served from our own static files, so the admin and Swagger UI work offline.
            f"/{static}/admin/css/base.css",
            f"/{static}/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        )
        for path in paths:
            status = _get(ctx.base_url + path, timeout=30)
            self.say(f"  check GET {path:<60} {status}")
            if status != 200:
                problems.append(f"GET {path} answered {status or 'nothing'}")
        try:
            answer = self.celery_round_trip(env["CELERY_RESULT_BACKEND"], timeout)
            self.say(f"  check Celery round trip (interlock.ping){'':<24} {answer}")
            if answer != "demo-check":
                problems.append(f"Celery ping answered {answer!r}")
        except Exception as exc:  # any failure is a failed check, and reported as one
            problems.append(f"Celery round trip failed: {exc!r}")
        return "; ".join(problems) or None

    def celery_round_trip(self, result_backend: str, timeout: float) -> str:
        from celery import Celery

        from interlock.celery import app

        # kombu's filesystem transport warns that it has no host name; it never has one.
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
        # A client of its own with the demo's result backend: the project's app was created
        # without one (Interlock needs no results), and its backend is fixed once created.
        client = Celery("interlock-demo-check", broker=app.conf.broker_url, backend=result_backend)
        client.conf.update(
            broker_transport=app.conf.broker_transport,
            broker_transport_options=app.conf.broker_transport_options,
            task_default_queue=app.conf.task_default_queue,
            task_routes=app.conf.task_routes,
        )
        try:
            return client.send_task("interlock.ping", args=["demo-check"]).get(timeout=timeout)
        finally:
            client.close()
