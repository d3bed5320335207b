"""MQTT with Sparkplug B: Interlock as a Sparkplug *host application*.

Topics are ``spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH|NCMD>/<node>[/<device>]``
and payloads are protobuf (``proto.py``). :class:`SparkplugProcessor` is the logic, free of
the network; :class:`SparkplugHost` wires it to a paho-mqtt client (``manage.py
mqtt_subscribe`` runs one).

**Sequence.** Every message of an edge node carries ``seq`` (0-255, wrapping), starting at
0 with its ``NBIRTH``; the birth and the node's last will (``NDEATH``) carry the same
``bdSeq`` metric, so a death that belongs to an older session is recognised and ignored.
A message whose ``seq`` is not the previous one plus one, or that comes from a node whose
birth we have not seen, means something was lost: the host asks the node for a rebirth
(``NCMD`` with ``Node Control/Rebirth`` = true) and the message's events are *held*, not
ingested: each is stored as a quarantined message whose body is the complete envelope and
whose reason names the topic and the expected and found ``seq``. An operator replays them
after checking what the rebirth showed.

**Metrics to events.** ``NDATA``/``DDATA`` metrics (by name, or by the alias their birth
declared) are looked up in :class:`~connectors.models.SparkplugMetricMapping` (per plant,
edited in the admin) and become envelopes of the mapped system, with a message id built
from topic, metric and timestamp, so a redelivered message is a duplicate, never a second
event. Births only declare names, aliases and current values; they make no events.

**Nothing lost.** The client connects with a fixed client id and a persistent session
(``clean_session=False``), subscribes with QoS 1 and acknowledges a message only after the
pipeline has stored it (paho's ``manual_ack``). If the broker goes away, the client
reconnects with backoff; what was published meanwhile is delivered from the session (and
the broker's persistence across its own restart); what was delivered but not yet
acknowledged is delivered again and deduplicated by idempotency.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...models import SparkplugMetricMapping, SparkplugTrigger
from ..base import Problem, TransportOutcome, deliver, inbound_quarantine, principal_for
from .proto import Payload, add_metric, metric_value, now_ms

logger = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
TRANSPORT = "mqtt:sparkplug_b"


@dataclass
class NodeState:
    """What the host knows of one edge node's session."""

    bd_seq: int | None = None
    seq: int | None = None  # last seq seen
    online: bool = False
    aliases: dict[int, str] = field(default_factory=dict)
    rebirths_requested: int = 0


def _iso(ms: int | None) -> str:
    stamp = dt.datetime.fromtimestamp((ms or now_ms()) / 1000, dt.UTC)
    return stamp.isoformat().replace("+00:00", "Z")


def _fill(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str) and template in values:
        return values[template]
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    return template


class SparkplugProcessor:
    """Turns Sparkplug B messages into ingest calls; see the module docstring.

    ``publish(topic, payload_bytes)`` sends the rebirth requests. Not thread-safe: one
    processor per subscriber connection (paho calls back on one thread).
    """

    def __init__(self, publish: Callable[[str, bytes], None]):
        self.publish = publish
        self.nodes: dict[tuple[str, str], NodeState] = defaultdict(NodeState)
        self._mappings: tuple[float, dict] | None = None

    # --- configuration ---------------------------------------------------------------
    def mappings(self) -> dict[tuple[str, str, str, str], list[SparkplugMetricMapping]]:
        """Active metric mappings, re-read every few seconds (they are admin data)."""
        clock = time.monotonic()
        if self._mappings is None or clock - self._mappings[0] > 5.0:
            table: dict[tuple[str, str, str, str], list] = defaultdict(list)
            for m in SparkplugMetricMapping.objects.filter(active=True).select_related(
                "system", "plant"
            ):
                table[(m.group_id, m.edge_node_id, m.device_id, m.metric)].append(m)
            self._mappings = (clock, dict(table))
        return self._mappings[1]

    # --- messages --------------------------------------------------------------------
    def handle(self, topic: str, data: bytes) -> TransportOutcome:
        """Process one message. Raises only for failures worth a redelivery (database)."""
        outcome = TransportOutcome()
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != NAMESPACE:
            return outcome  # STATE and foreign topics
        _, group, kind, node = parts[:4]
        device = parts[4] if len(parts) > 4 else ""
        if kind in ("NCMD", "DCMD"):
            return outcome
        try:
            payload = Payload.FromString(data)
        except Exception as exc:  # a corrupt payload: keep it, say where it came from
            self._hold_raw(
                topic,
                data,
                [Problem("sparkplug.decode", topic, f"not a Sparkplug B payload: {exc}")],
                group,
                node,
            )
            return outcome
        state = self.nodes[(group, node)]
        seq = payload.seq if payload.HasField("seq") else None

        if kind == "NBIRTH":
            state.bd_seq = self._bd_seq(payload)
            state.seq, state.online = seq, True
            state.aliases = {
                m.alias: m.name for m in payload.metrics if m.HasField("alias") and m.name
            }
            logger.info("sparkplug birth", extra={"node": f"{group}/{node}", "bdSeq": state.bd_seq})
            return outcome
        if kind == "NDEATH":
            bd_seq = self._bd_seq(payload)
            if state.bd_seq is None or bd_seq == state.bd_seq:
                state.online = False
            return outcome  # a death of an older session is stale: ignored

        problems = self._sequence_problems(state, topic, seq)
        if seq is not None:
            state.seq = seq
        if kind == "DBIRTH":
            state.aliases.update(
                {m.alias: m.name for m in payload.metrics if m.HasField("alias") and m.name}
            )
        envelopes = (
            self._envelopes(payload, state, group, node, device, topic)
            if kind in ("NDATA", "DDATA")
            else []
        )
        if problems:
            self.request_rebirth(group, node)
            for envelope, (system, plant) in envelopes:
                outcome.quarantined.append(
                    inbound_quarantine(
                        principal=principal_for(system),
                        transport=TRANSPORT,
                        document=topic,
                        problems=problems,
                        envelope=envelope,
                        plant=plant,
                    ).pk
                )
            if not envelopes and kind in ("NDATA", "DDATA"):
                self._hold_raw(topic, data, problems, group, node)
            return outcome
        by_system: dict[int, tuple[Any, list]] = {}
        for envelope, (system, _plant) in envelopes:
            by_system.setdefault(system.pk, (system, []))[1].append(envelope)
        for system, batch in by_system.values():
            deliver(principal=principal_for(system), envelopes=batch, outcome=outcome)
        return outcome

    def _bd_seq(self, payload) -> int | None:
        for metric in payload.metrics:
            if metric.name == "bdSeq":
                return metric_value(metric)
        return None

    def _sequence_problems(self, state: NodeState, topic: str, seq: int | None) -> list[Problem]:
        if not state.online or state.seq is None:
            return [
                Problem(
                    "sparkplug.not_born",
                    topic,
                    "a message from an edge node whose birth was not seen; rebirth requested",
                    found=seq,
                )
            ]
        expected = (state.seq + 1) % 256
        if seq != expected:
            return [
                Problem(
                    "sparkplug.sequence_gap",
                    topic,
                    f"seq {seq} after {state.seq}: {(seq - expected) % 256 if seq is not None else '?'} "
                    "message(s) lost; rebirth requested, events held for review",
                    expected=expected,
                    found=seq,
                )
            ]
        return []

    def _envelopes(self, payload, state, group, node, device, topic):
        table = self.mappings()
        out = []
        for metric in payload.metrics:
            name = metric.name or state.aliases.get(metric.alias, "")
            for mapping in table.get((group, node, device, name), []):
                value = metric_value(metric)
                if mapping.trigger == SparkplugTrigger.TRUE and value is not True:
                    continue
                if mapping.trigger == SparkplugTrigger.FALSE and value is not False:
                    continue
                stamp = metric.timestamp or payload.timestamp
                values = {
                    "$value": value,
                    "$timestamp": _iso(stamp),
                    "$device": device or node,
                    "$edge_node": node,
                    "$metric": name,
                }
                envelope = {
                    "source": mapping.system.code,
                    "plant": mapping.plant.code,
                    "type": mapping.event_type,
                    "occurred_at": _iso(stamp),
                    "message_id": f"{topic}#{name}@{stamp}"[:200],
                    "payload": _fill(mapping.payload, values),
                }
                out.append((envelope, (mapping.system, mapping.plant)))
        return out

    def _hold_raw(self, topic, data, problems, group, node) -> None:
        systems = {
            m.system for key, ms in self.mappings().items() if key[:2] == (group, node) for m in ms
        }
        for system in systems:
            inbound_quarantine(
                principal=principal_for(system),
                transport=TRANSPORT,
                document=topic,
                problems=problems,
                raw=data.hex(),
            )
        if not systems:
            logger.warning("sparkplug message of an unmapped node held nowhere: %s", topic)

    def request_rebirth(self, group: str, node: str) -> None:
        payload = Payload()
        payload.timestamp = now_ms()
        add_metric(payload, REBIRTH, "Boolean", True)
        self.nodes[(group, node)].rebirths_requested += 1
        logger.warning("sparkplug rebirth requested", extra={"node": f"{group}/{node}"})
        self.publish(f"{NAMESPACE}/{group}/NCMD/{node}", payload.SerializeToString())


class SparkplugHost:
    """A paho-mqtt client around a :class:`SparkplugProcessor`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        host_id: str = "interlock",
        groups: list[str] | None = None,
        client_id: str | None = None,
    ):
        import paho.mqtt.client as mqtt

        self.host, self.port, self.host_id = host, port, host_id
        self.groups = groups or ["+"]
        self.connected = threading.Event()
        self._stopping = False
        self._serving = False  # True in run_forever: this thread owns its DB connection
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"interlock-host-{host_id}",
            clean_session=False,  # the broker keeps our subscriptions and queues QoS 1
            manual_ack=True,  # PUBACK only once the pipeline has stored the message
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        state_topic = f"{NAMESPACE}/STATE/{host_id}"
        self.client.will_set(state_topic, json.dumps({"online": False}), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.processor = SparkplugProcessor(
            publish=lambda topic, data: self.client.publish(topic, data, qos=0)
        )

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            logger.error("MQTT connection refused: %s", reason_code)
            return
        client.publish(
            f"{NAMESPACE}/STATE/{self.host_id}",
            json.dumps({"online": True, "timestamp": now_ms()}),
            qos=1,
            retain=True,
        )
        client.subscribe([(f"{NAMESPACE}/{group}/#", 1) for group in self.groups])
        logger.info("MQTT connected", extra={"broker": f"{self.host}:{self.port}"})

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None):
        # Ready only once the broker has the subscription: a birth published before it
        # would not reach us (on a first connection; later the session keeps it).
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        self.connected.clear()
        logger.warning("MQTT disconnected (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message):
        from django.db import close_old_connections, connection

        for attempt in range(3):
            try:
                if self._serving:  # a long-lived process: drop a dead or stale connection
                    close_old_connections()
                self.processor.handle(message.topic, message.payload)
            except Exception:
                logger.exception("sparkplug message on %s not processed", message.topic)
                if self._serving:
                    connection.close()  # a broken connection must not poison the next try
                time.sleep(attempt + 1)
                continue
            client.ack(message.mid, message.qos)
            return
        # Still failing (the database is away): leave it unacknowledged and drop the
        # connection; run_forever reconnects and the broker delivers it again.
        client.disconnect()

    def connect(self) -> None:
        self.client.connect(self.host, self.port, keepalive=30)

    def pump(self, seconds: float) -> None:
        """Run the network loop on this thread for ``seconds``, reconnecting as needed
        (tests drive the host this way; the command uses :meth:`run_forever`)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.client.socket() is None:  # disconnected (not merely awaiting CONNACK)
                try:
                    self.client.reconnect()
                except OSError:
                    time.sleep(0.2)
                    continue
            self.client.loop(timeout=0.1)

    def run_forever(self) -> None:
        """Serve until :meth:`stop`. paho reconnects after a broker loss by itself; after
        a disconnect of our own (a message we could not store) we reconnect here."""
        self._stopping, self._serving = False, True
        self.client.connect_async(self.host, self.port, keepalive=30)
        while True:
            self.client.loop_forever(retry_first_connection=True)
            if self._stopping:
                return
            time.sleep(1)
            try:
                self.client.reconnect()
            except OSError as exc:
                logger.warning("MQTT reconnect failed: %s", exc)

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
