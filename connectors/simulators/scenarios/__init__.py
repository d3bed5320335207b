"""Players of the seed scenarios (DOMAIN.md) for ``manage.py demo_scenario N``.

A player acts the way the plant systems and people would on the *running* demo: it posts
canonical envelopes to Interlock's API with the demo's system keys, tells the simulators
what happens on their side (``POST /<sim>/_…`` controls), decides what a person decides
through the API with a demo login, and waits for the outcome, saying at every step what
happened and where to look in the admin. It never touches Interlock's database: what it
shows is what a connected system could see. Like the simulators it is Django-free.

The contract of a scenario module ``connectors/simulators/scenarios/s<N>.py``:

``NUMBER: int``
    the scenario's number in DOMAIN.md (the registry key; the module name says it too);
``TITLE: str``
    one line;
``RULE_PACK: str``
    the shipped rule pack (``rules/packs/<name>.yaml``) whose rules drive it;
``SYSTEMS: tuple[str, ...]``
    the simulated systems it involves (``erp``, ``mes``, ``qms``, ``wms``);
``play(stage: Stage) -> Played``
    play the scenario once on ``stage`` and return what it did. A step that does not come
    within ``stage.timeout`` raises :class:`ScenarioFailed` saying what it waited for.
    Playing twice makes a second, independent run (fresh numbers from ``stage.unique``).

:data:`SCENARIOS` (number → module) is filled by importing every ``s<N>`` module of this
package; adding a scenario is adding a module.
"""

from __future__ import annotations

import base64
import importlib
import json
import pkgutil
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from .. import base


class ScenarioFailed(Exception):
    """A step did not happen (in time): the message says which and what was seen."""


@dataclass
class Played:
    """What a player did: one line per step, and admin pages worth opening."""

    steps: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stage:
    """The running demo as a player sees it.

    ``interlock_url``: the web server; ``sim_urls``: simulator name → base URL of its mount
    (``http://127.0.0.1:8101/erp``); ``keys``: system code → API key (the demo's
    ``var/sim/keys.json``); ``users``: demo login → password, for the steps people take;
    ``plant``: where to play; ``out``: where progress lines go."""

    interlock_url: str
    sim_urls: dict[str, str]
    keys: dict[str, str]
    users: dict[str, str] = field(default_factory=dict)
    plant: str = "P1"
    timeout: float = 60.0
    poll: float = 0.5
    out: Callable[[str], None] = print
    #: Suffix making this run's numbers unique (order, lot, count numbers).
    unique: str = field(default_factory=lambda: time.strftime("%H%M%S"))

    # --- talking -------------------------------------------------------------------------
    def say(self, text: str, played: Played | None = None) -> None:
        self.out(text)
        if played is not None:
            played.steps.append(text)

    def admin(self, path: str) -> str:
        return f"{self.interlock_url.rstrip('/')}/admin/{path.lstrip('/')}"

    # --- HTTP ----------------------------------------------------------------------------
    def _call(self, url: str, *, method: str, body: Any = None, headers=None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the demo's own URLs
            url,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"}
            | (headers or {}),
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, raw[:500].decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise ScenarioFailed(
                f"{method} {url}: not reachable ({exc}); is the demo running?"
            ) from None

    def _auth(self, system: str | None, user: str | None) -> dict[str, str]:
        if system is not None:
            key = self.keys.get(system)
            if not key:
                raise ScenarioFailed(f"no API key for {system} (is var/sim/keys.json current?)")
            return {"Authorization": f"Api-Key {key}"}
        if user is not None:
            token = base64.b64encode(f"{user}:{self.users[user]}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        return {}

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        system: str | None = None,
        user: str | None = None,
        query: dict | None = None,
    ) -> tuple[int, Any]:
        """Interlock's API (``/api/v1/<path>``) as a system (its key) or a person (login)."""
        url = f"{self.interlock_url.rstrip('/')}/api/v1/{path.lstrip('/')}"
        if query:
            url += "?" + urlencode(query, doseq=True)
        return self._call(url, method=method, body=body, headers=self._auth(system, user))

    def post_events(self, system: str, envelopes: list[dict]) -> list[dict]:
        """Post envelopes as ``system``; their results (an envelope refused is a failure)."""
        status, body = self.api("POST", "events/bulk", {"events": envelopes}, system=system)
        if status != 200:
            raise ScenarioFailed(f"Interlock answered {status} to {system}'s events: {body}")
        return body["results"]

    def envelope(self, system: str, type_: str, payload: dict, **extra) -> dict:
        env = base.envelope(
            source=system,
            plant=self.plant,
            type_=type_,
            payload=payload,
            occurred_at=base.utcnow(),
            correlation_id=extra.pop("correlation_id", None),
        )
        return env | extra

    def sim(self, name: str, method: str, path: str, body: Any = None) -> Any:
        """A simulator's endpoint (``/<name>/<path>``); its JSON answer (2xx only)."""
        url = f"{self.sim_urls[name].rstrip('/')}/{path.lstrip('/')}"
        status, answer = self._call(url, method=method, body=body)
        if not 200 <= status < 300:
            raise ScenarioFailed(f"{method} {url} answered {status}: {answer}")
        return answer

    def results(self, path: str, *, system: str | None = None, user=None, **query) -> list:
        """The rows of a paginated list endpoint of the API (first page)."""
        status, body = self.api("GET", path, system=system, user=user, query=query)
        if status != 200:
            raise ScenarioFailed(f"GET /api/v1/{path} answered {status}: {body}")
        return body.get("results", body) if isinstance(body, dict) else body

    # --- waiting -------------------------------------------------------------------------
    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float | None = None) -> Any:
        """Call ``probe`` until it returns something truthy (that value) or time is up."""
        deadline = time.monotonic() + (timeout or self.timeout)
        last = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(self.poll)
        raise ScenarioFailed(
            f"waited {timeout or self.timeout:.0f} s for {what}; last saw {last!r}"
        )


def _discover() -> dict[int, ModuleType]:
    found: dict[int, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if not re.fullmatch(r"s\d+", info.name):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        missing = [
            n for n in ("NUMBER", "TITLE", "RULE_PACK", "SYSTEMS", "play") if not hasattr(module, n)
        ]
        if missing:
            raise RuntimeError(f"scenario module {info.name} lacks {', '.join(missing)}")
        if f"s{module.NUMBER}" != info.name or module.NUMBER in found:
            raise RuntimeError(f"scenario module {info.name} says NUMBER={module.NUMBER}")
        found[module.NUMBER] = module
    return dict(sorted(found.items()))


#: number → scenario module (see the module docstring for what each exposes).
SCENARIOS: dict[int, ModuleType] = _discover()


def scenario(number: int) -> ModuleType:
    try:
        return SCENARIOS[number]
    except KeyError:
        known = ", ".join(str(n) for n in SCENARIOS) or "none"
        raise KeyError(f"no scenario {number}; known: {known}") from None
