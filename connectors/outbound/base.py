"""The contract every outbound connector implements, and the registry by transport.

A connector turns outbox messages into requests to one connected system and says, per
message, what happened. It never touches the database: ``delivery`` claims rows, calls
:meth:`Connector.send`, and records the outcome. Like healthchecks.io's transports, an
error says whether it is worth retrying.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class OutboundMessage:
    """What a connector sends: the wire form of one ``OutboxMessage`` (no ORM object, so
    connectors stay free of the database)."""

    id: int
    type: str
    idempotency_key: str
    plant: str
    correlation_id: str
    payload: dict[str, Any]

    def as_wire(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "idempotency_key": self.idempotency_key,
            "plant": self.plant,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class Receipt:
    """The receiver's answer for one message. ``status``: ``applied`` or ``duplicate``
    (both success: the receiver deduplicated) or ``rejected`` (a permanent failure of this
    message only). ``reference`` is the receiver's document number, when it gives one."""

    idempotency_key: str
    status: str
    reference: str | None = None
    error: str | None = None
    status_code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "duplicate")


#: Codes of errors in *our* configuration of the system (no base URL, no connector, a
#: missing or refused credential): no message of the system can be delivered until a person
#: fixes it, so every row is dead-lettered at once with the reason, never retried for hours.
CONFIGURATION_CODES = frozenset(
    {"config_error", "no_connector", "credential_missing", "auth_failed"}
)
#: The receiver asks us to slow down (429): retried on a time budget, not the attempt count.
THROTTLED = "throttled"
#: The receiver is healthy and answered, but holds the message behind its own gate (Tryton's
#: quality inspection on ``production:do``): *not done*, never a success. Retried on the gate
#: budget, without using up attempts or counting against the circuit breaker.
GATED = "gated"


class ConnectorError(Exception):
    """The whole request failed. ``permanent`` errors (a 4xx other than 408/429, a missing
    credential) go to the dead-letter queue at once; transient ones are retried, no sooner
    than ``retry_after`` seconds when the receiver said so. A ``code`` in
    :data:`CONFIGURATION_CODES` is a configuration error (permanent for every message)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        status_code: int | None = None,
        code: str = "error",
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status_code = status_code
        self.code = code

    @property
    def configuration(self) -> bool:
        return self.code in CONFIGURATION_CODES

    @property
    def throttled(self) -> bool:
        return self.code == THROTTLED

    @property
    def gated(self) -> bool:
        return self.code == GATED


class Connector:
    """Base class of outbound connectors, one instance per connected system.

    Subclasses set ``transport`` (a ``plants.choices.Transport`` value) and ``max_batch``
    (messages per request, 1 when the target has no batch endpoint) and implement
    :meth:`send`: one ``Receipt`` per message, in order, or raise ``ConnectorError`` when
    the request as a whole failed. ``send`` must be safe to repeat: every message carries
    its idempotency key, and the receiver deduplicates on it.
    """

    transport: ClassVar[str]
    max_batch: ClassVar[int] = 1

    def __init__(self, system) -> None:
        self.system = system

    def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (called when a delivery run ends)."""


#: transport → connector class, filled by :func:`register`.
CONNECTORS: dict[str, type[Connector]] = {}
#: Modules that register connectors (imported on first use, not at app load).
TRANSPORT_MODULES = ("connectors.outbound.rest", "connectors.outbound.tryton")


def register(transport: str) -> Callable[[type[Connector]], type[Connector]]:
    def decorator(cls: type[Connector]) -> type[Connector]:
        cls.transport = transport
        CONNECTORS[transport] = cls
        return cls

    return decorator


def connector_for(system) -> Connector:
    """A connector instance for ``system`` (a ``ConnectedSystem``), by its transport.
    Raises a permanent :class:`ConnectorError` when no connector handles it."""
    cls = CONNECTORS.get(system.transport)
    if cls is None:  # a module imported early for another reason must not hide the rest
        for module in TRANSPORT_MODULES:
            importlib.import_module(module)
        cls = CONNECTORS.get(system.transport)
    if cls is None:
        raise ConnectorError(
            f"no outbound connector for transport {system.transport!r}",
            permanent=True,
            code="no_connector",
        )
    return cls(system)
