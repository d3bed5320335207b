"""The benchmarks' and the fault suite's events obey the canonical contract.

After the merge of the hardening (canonical number ranges), ``python -m bench faults``
had its confirmations answered ``quarantined``: ``bench/ingest_load.make_event`` put its
70-billion serial in ``payload.sequence``, past the schema's 32-bit maximum, so 300 of 400
events of a scenario were counted lost. The events the benches send must be what a
correct MES sends: accepted, each with a business key of its own.
"""

import pytest

from bench.ingest_load import ORDERS, SEQUENCE_MAX, confirmation_sequence, make_event
from bench.ingest_world import order_events, seed
from orchestrator.models import InboundMessage

#: (stream, client) pairs the benches use: the fault suite's scenarios (70…74), W3's phases
#: and their warm-up streams (61, 62, +50), the peer bench and the W2 levels.
STREAMS = [(70, 0), (74, 0), (61, 1), (112, 3), (2, 0), (150, 7)]


def test_every_bench_confirmation_sequence_is_inside_the_canonical_range():
    seen = set()
    for stream, client in STREAMS:
        for n in (0, 1, 2, ORDERS, ORDERS + 1, 5_000_000, 19_999_999):
            event = make_event(stream, client, n)
            if event["type"] != "operation.confirmed":
                continue
            payload = event["payload"]
            assert 0 <= payload["sequence"] <= SEQUENCE_MAX
            key = (payload["order"], payload["operation"], payload["sequence"])
            assert key not in seen, key
            seen.add(key)
    with pytest.raises(ValueError, match="canonical sequence range"):
        confirmation_sequence(214, 99, 0)


def test_bench_events_are_accepted_by_the_api(db, post):
    key = seed()
    events = [
        make_event(stream, client, n)
        for stream, client in STREAMS
        for n in (0, 1, 2, 3, ORDERS, ORDERS + 2)
    ]
    orders = {event["payload"]["order"] for event in events}
    setup = [e for e in order_events() if e["payload"]["order"] in orders]
    response = post(key, {"events": setup}, bulk=True)
    assert {r["status"] for r in response.json()["results"]} == {"accepted"}

    response = post(key, {"events": events}, bulk=True)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * len(events), results
    assert not InboundMessage.objects.filter(status="quarantined").exists()
    # Each one is its own event: the business keys did not merge two of them.
    assert len({r["event_id"] for r in results}) == len(events)
