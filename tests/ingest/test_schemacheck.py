"""The compiled yes/no schema check agrees with jsonschema on every event type and the envelope."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from orchestrator.ingest.envelope import ENVELOPE_SCHEMA
from orchestrator.ingest.schemacheck import compile_check
from orchestrator.ingest.specs import EVENT_TYPES, load_schema
from tests.ingest.conftest import envelope, release

SCHEMAS = {t: load_schema(t) for t in EVENT_TYPES} | {
    "envelope": json.loads(ENVELOPE_SCHEMA.read_text())
}


def _names(schema, out):
    if isinstance(schema, dict):
        out.update(schema.get("properties", {}))
        for value in schema.values():
            _names(value, out)
    elif isinstance(schema, list):
        for value in schema:
            _names(value, out)
    return out


NAMES = [*sorted(set().union(*(_names(s, set()) for s in SCHEMAS.values()))), "unknown_field"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=5),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, -0.5, 2.5, 1e300]),
    st.text(max_size=3),
    st.text(min_size=98, max_size=102),
    st.sampled_from(
        [
            "",
            "2026-05-10T08:15:00Z",
            "2026-05-10",
            "2026-13-40",
            "yesterday",
            "ST",
            "passed",
            *list(EVENT_TYPES),
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(NAMES), inner, max_size=6),
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(NAMES), values, max_size=10)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(name=st.sampled_from(sorted(SCHEMAS)), document=st.one_of(documents, values))
def test_compiled_check_says_valid_exactly_when_jsonschema_finds_no_error(name, document):
    schema = SCHEMAS[name]
    check = compile_check(schema)
    assert check is not None, f"{name} uses a keyword the compiler does not know"
    expected = not any(
        Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(document)
    )
    assert check(document) is expected


VALID = {
    "production_order.released": release(),
    "operation.confirmed": {
        "order": "WO-1",
        "operation": "0010",
        "sequence": 3,
        "qty": 2.0,
        "scrap_qty": 0,
        "uom": "EA",
        "final": False,
    },
    "envelope": envelope("operation.confirmed", {"order": "WO-1"}, correlation_id="c-1"),
}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    name=st.sampled_from(sorted(VALID)),
    edits=st.lists(
        st.tuples(st.sampled_from(NAMES), st.one_of(st.none(), values), st.booleans()),
        max_size=2,
    ),
)
def test_compiled_check_agrees_on_valid_documents_and_their_small_edits(name, edits):
    document = json.loads(json.dumps(VALID[name]))
    for key, value, delete in edits:
        if delete:
            document.pop(key, None)
        else:
            document[key] = value
    schema = SCHEMAS[name]
    expected = not any(
        Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(document)
    )
    assert compile_check(schema)(document) is expected
    if not edits:
        assert expected


def test_unknown_keywords_fall_back_to_jsonschema():
    assert compile_check({"type": "object", "patternProperties": {"^x": {}}}) is None
    assert compile_check({"enum": [1, "a"]}) is None
