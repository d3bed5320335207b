"""MQTT with Sparkplug B, from the wire to the event outcome, on a private Mosquitto."""

from __future__ import annotations

import os
import time

import paho.mqtt.client as mqtt
import pytest

from connectors.inbound.sparkplug import REBIRTH, SparkplugHost
from connectors.inbound.sparkplug.proto import Payload, add_metric, metric_value
from connectors.models import SparkplugMetricMapping
from orchestrator.models import Event, InboundMessage
from orchestrator.services.replay import message_replay
from tests.connectors.mosquitto import MOSQUITTO, Broker
from tests.factories import UserFactory
from tests.services import REQUIRE

# Skipped without Mosquitto, except where services are required (CI): there it fails.
pytestmark = pytest.mark.skipif(
    not os.path.exists(MOSQUITTO) and not REQUIRE,
    reason="mosquitto is not installed (make sysdeps)",
)

GROUP, NODE, DEVICE = "P1-Plant", "press-gw", "PRESS-7"


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path).start()
    yield broker
    broker.stop()


@pytest.fixture
def mapping(world):
    mapping = SparkplugMetricMapping(
        system=world["mes"],
        plant=world["p1"],
        group_id=GROUP,
        edge_node_id=NODE,
        device_id=DEVICE,
        metric="Press/Running",
        trigger="false",
        event_type="machine.downtime",
        payload={
            "work_center": "LINE_A",
            "equipment": "$device",
            "started_at": "$timestamp",
            "reason": "stopped",
        },
    )
    mapping.full_clean()
    mapping.save()
    return mapping


class EdgeNode:
    """A Sparkplug B edge node as a plant would run one (paho, its own thread)."""

    def __init__(self, port: int):
        self.seq = 0
        self.bd_seq = 0
        self.commands: list = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-press-gw")
        death = Payload()
        add_metric(death, "bdSeq", "Int64", self.bd_seq)
        self.client.will_set(f"spBv1.0/{GROUP}/NDEATH/{NODE}", death.SerializeToString(), qos=1)
        self.client.on_message = lambda c, u, m: self.commands.append(Payload.FromString(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"spBv1.0/{GROUP}/NCMD/{NODE}", qos=1)
        self.client.loop_start()

    def send(self, kind: str, metrics, *, seq: int | None = None, device: str = DEVICE):
        payload = Payload()
        payload.timestamp = int(time.time() * 1000)
        payload.seq = self.seq if seq is None else seq
        self.seq = (payload.seq + 1) % 256
        for metric in metrics:
            add_metric(payload, *metric)
        topic = f"spBv1.0/{GROUP}/{kind}/{NODE}" + (f"/{device}" if kind[0] == "D" else "")
        return self.client.publish(topic, payload.SerializeToString(), qos=1)

    def birth(self):
        self.seq = 0
        self.send(
            "NBIRTH", [("bdSeq", "Int64", self.bd_seq), ("Node Control/Rebirth", "Boolean", False)]
        )
        self.send("DBIRTH", [("Press/Running", "Boolean", True)])

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def _host(broker) -> SparkplugHost:
    host = SparkplugHost(
        host="127.0.0.1", port=broker.port, host_id="interlock-test", groups=[GROUP]
    )
    host.connect()
    return host


def _until(host, condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        host.pump(0.2)
        if condition():
            return True
    return False


def _downtimes():
    return InboundMessage.objects.filter(event_type="machine.downtime")


def test_ndata_becomes_an_event_and_a_sequence_gap_asks_for_a_rebirth(world, mapping, broker):
    host = _host(broker)
    assert _until(host, host.connected.is_set)
    edge = EdgeNode(broker.port)
    try:
        edge.birth()
        edge.send("DDATA", [("Press/Running", "Boolean", True)])  # running: no event
        edge.send("DDATA", [("Press/Running", "Boolean", False)])  # stopped: downtime
        assert _until(host, lambda: _downtimes().exists())
        (message,) = _downtimes()
        assert message.status == "accepted"
        event = Event.objects.get(pk=message.event_id)
        assert event.payload["work_center"] == "P1-ASSY1"  # LINE_A, mapped by the pipeline
        assert event.payload["equipment"] == DEVICE
        assert host.processor.nodes[(GROUP, NODE)].seq == 3

        # Messages 4 and 5 never arrive; 6 does: a gap.
        edge.send("DDATA", [("Press/Running", "Boolean", False)], seq=6)
        assert _until(host, lambda: _downtimes().count() == 2)
        held = _downtimes().get(status="quarantined")
        reason = held.reasons[0]
        assert reason["code"] == "sparkplug.sequence_gap"
        assert reason["path"] == f"spBv1.0/{GROUP}/DDATA/{NODE}/{DEVICE}"
        assert (reason["expected"], reason["found"]) == (4, 6)
        assert Event.objects.filter(event_type="machine.downtime").count() == 1  # held back

        # The edge node was asked for a rebirth.
        deadline = time.monotonic() + 5
        while not edge.commands and time.monotonic() < deadline:
            time.sleep(0.05)
        (command,) = edge.commands
        assert [(m.name, metric_value(m)) for m in command.metrics] == [(REBIRTH, True)]

        # The operator replays the held event after checking: it goes through the pipeline.
        operator = UserFactory(is_superuser=True)
        replay = message_replay(message=held, actor=operator)
        assert replay.status == "accepted"
        assert Event.objects.filter(event_type="machine.downtime").count() == 2

        # After the rebirth, the sequence starts over and data flows again.
        edge.birth()
        edge.send("DDATA", [("Press/Running", "Boolean", False)])
        assert _until(host, lambda: _downtimes().filter(status="accepted").count() == 3)
    finally:
        edge.stop()
        host.stop()


def test_broker_loss_is_survived_with_nothing_lost(world, mapping, broker):
    host = _host(broker)
    assert _until(host, host.connected.is_set)
    edge = EdgeNode(broker.port)
    edge.birth()
    assert _until(host, lambda: host.processor.nodes[(GROUP, NODE)].online)
    # The host is away (a deploy) while the press stops: the broker keeps the message for
    # the host's persistent session.
    host.client.disconnect()
    host.client.loop(timeout=0.2)
    edge.send("DDATA", [("Press/Running", "Boolean", False)]).wait_for_publish(5)
    edge.stop()
    # Then the broker itself restarts (its persistence keeps the session and the message).
    broker.stop()
    broker.start()
    host.connected.clear()
    assert _until(host, lambda: _downtimes().exists(), seconds=15)
    (message,) = _downtimes()
    assert message.status == "accepted"
    assert host.processor.nodes[(GROUP, NODE)].seq == 2
    host.stop()


@pytest.mark.django_db(transaction=True)
def test_the_subscriber_loop_of_the_command_serves_until_stopped(world, mapping, broker):
    import threading

    from django.db import connection

    host = SparkplugHost(host="127.0.0.1", port=broker.port, host_id="cmd", groups=[GROUP])

    def serve():
        try:
            host.run_forever()
        finally:
            connection.close()  # this thread's connection, before the database is flushed

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert host.connected.wait(10)
    edge = EdgeNode(broker.port)
    try:
        edge.birth()
        edge.send("DDATA", [("Press/Running", "Boolean", False)])
        deadline = time.monotonic() + 10
        # The raw message is committed before its decision: wait for the decision.
        while not _downtimes().exclude(status="received").exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert _downtimes().get().status == "accepted"
    finally:
        edge.stop()
        host.stop()
        thread.join(10)
    assert not thread.is_alive()
