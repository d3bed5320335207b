"""The Sparkplug B host's sequence rules, without a broker: births, deaths, aliases,
the seq wrap at 255, and data from a node whose birth was not seen."""

from __future__ import annotations

import pytest

from connectors.inbound.sparkplug import REBIRTH, SparkplugProcessor
from connectors.inbound.sparkplug.proto import Payload, add_metric, metric_value
from connectors.models import SparkplugMetricMapping
from orchestrator.models import InboundMessage

TOPIC = "spBv1.0/G/{kind}/N"


@pytest.fixture
def sent():
    return []


@pytest.fixture
def processor(world, sent):
    SparkplugMetricMapping.objects.create(
        system=world["mes"],
        plant=world["p1"],
        group_id="G",
        edge_node_id="N",
        metric="Line/Down",
        trigger="true",
        event_type="machine.downtime",
        payload={"work_center": "LINE_A", "started_at": "$timestamp", "reason": "$metric"},
    )
    return SparkplugProcessor(publish=lambda topic, data: sent.append((topic, data)))


def _msg(seq, *metrics):
    payload = Payload()
    payload.seq = seq
    payload.timestamp = 1_778_400_000_000
    for metric in metrics:
        add_metric(payload, *metric[:3], **(metric[3] if len(metric) > 3 else {}))
    return payload.SerializeToString()


def test_data_from_a_node_never_born_is_held_and_a_rebirth_requested(processor, sent):
    outcome = processor.handle(TOPIC.format(kind="NDATA"), _msg(5, ("Line/Down", "Boolean", True)))
    assert outcome.results == []
    (held,) = InboundMessage.objects.filter(pk__in=outcome.quarantined)
    assert held.reasons[0]["code"] == "sparkplug.not_born"
    assert held.body["type"] == "machine.downtime"  # the full envelope, replayable
    assert held.body["payload"]["reason"] == "Line/Down"
    ((topic, data),) = sent
    assert topic == "spBv1.0/G/NCMD/N"
    assert [(m.name, metric_value(m)) for m in Payload.FromString(data).metrics] == [
        (REBIRTH, True)
    ]


def test_aliases_from_the_birth_and_the_seq_wrap(processor, sent):
    processor.handle(
        TOPIC.format(kind="NBIRTH"),
        _msg(0, ("bdSeq", "Int64", 3), ("Line/Down", "Boolean", False, {"alias": 7})),
    )
    processor.nodes[("G", "N")].seq = 254  # as after 254 messages
    ok = processor.handle(
        TOPIC.format(kind="NDATA"), _msg(255, ("", "Boolean", False, {"alias": 7}))
    )
    assert ok.results == []  # trigger "true": false makes no event
    wrapped = processor.handle(
        TOPIC.format(kind="NDATA"), _msg(0, ("", "Boolean", True, {"alias": 7}))
    )
    (result,) = wrapped.results  # 255 → 0 is no gap; the alias named the metric
    assert result.status == "accepted"
    assert sent == []


def test_a_death_of_an_older_session_is_ignored(processor, sent):
    processor.handle(TOPIC.format(kind="NBIRTH"), _msg(0, ("bdSeq", "Int64", 4)))
    processor.handle(TOPIC.format(kind="NDEATH"), _msg(0, ("bdSeq", "Int64", 3)))
    assert processor.nodes[("G", "N")].online
    processor.handle(TOPIC.format(kind="NDEATH"), _msg(0, ("bdSeq", "Int64", 4)))
    assert not processor.nodes[("G", "N")].online
    after = processor.handle(TOPIC.format(kind="NDATA"), _msg(1, ("Line/Down", "Boolean", True)))
    assert after.quarantined  # dead node: held, rebirth requested
    assert len(sent) == 1


def test_a_corrupt_payload_is_kept_with_its_topic(processor):
    processor.handle(TOPIC.format(kind="NDATA"), b"\xff\xff not protobuf")
    (held,) = InboundMessage.objects.filter(status="quarantined")
    assert held.reasons[0]["code"] == "sparkplug.decode"
    assert held.reasons[0]["path"] == "spBv1.0/G/NDATA/N"
