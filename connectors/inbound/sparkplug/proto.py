"""The Sparkplug B payload (``org.eclipse.tahu.protobuf.Payload``), built at import.

The Sparkplug packages on PyPI pin paho-mqtt below 2, so the schema is embedded here: the
descriptor is built with ``descriptor_pb2`` (no ``protoc`` step, nothing generated to go
stale against the protobuf runtime). It declares the fields Interlock reads and writes,
with the field numbers and types of Eclipse Tahu's ``sparkplug_b.proto`` (Sparkplug 3.0),
so it is wire-compatible: fields it does not declare (metadata, property sets, data sets,
templates) are kept as unknown fields and ignored.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "org.eclipse.tahu.protobuf"

#: Sparkplug B data types (``DataType`` enum of the specification).
DATATYPES = {
    "Int8": 1, "Int16": 2, "Int32": 3, "Int64": 4, "UInt8": 5, "UInt16": 6, "UInt32": 7,
    "UInt64": 8, "Float": 9, "Double": 10, "Boolean": 11, "String": 12, "DateTime": 13,
    "Text": 14, "UUID": 15,
}  # fmt: skip
_VALUE_FIELD = {
    1: "int_value", 2: "int_value", 3: "int_value", 5: "int_value", 6: "int_value",
    7: "int_value", 4: "long_value", 8: "long_value", 13: "long_value", 9: "float_value",
    10: "double_value", 11: "boolean_value", 12: "string_value", 14: "string_value",
    15: "string_value",
}  # fmt: skip
_SIGNED_BITS = {1: 8, 2: 16, 3: 32, 4: 64}


def _build():
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="interlock_sparkplug_b.proto", package=PACKAGE, syntax="proto2"
    )
    payload = file.message_type.add(name="Payload")
    for name, number, kind, label in (
        ("timestamp", 1, F.TYPE_UINT64, F.LABEL_OPTIONAL),
        ("seq", 3, F.TYPE_UINT64, F.LABEL_OPTIONAL),
        ("uuid", 4, F.TYPE_STRING, F.LABEL_OPTIONAL),
        ("body", 5, F.TYPE_BYTES, F.LABEL_OPTIONAL),
    ):
        payload.field.add(name=name, number=number, type=kind, label=label)
    payload.field.add(
        name="metrics",
        number=2,
        type=F.TYPE_MESSAGE,
        label=F.LABEL_REPEATED,
        type_name=f".{PACKAGE}.Payload.Metric",
    )
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    for name, number, kind in (
        ("name", 1, F.TYPE_STRING),
        ("alias", 2, F.TYPE_UINT64),
        ("timestamp", 3, F.TYPE_UINT64),
        ("datatype", 4, F.TYPE_UINT32),
        ("is_historical", 5, F.TYPE_BOOL),
        ("is_transient", 6, F.TYPE_BOOL),
        ("is_null", 7, F.TYPE_BOOL),
    ):
        metric.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    for name, number, kind in (
        ("int_value", 10, F.TYPE_UINT32),
        ("long_value", 11, F.TYPE_UINT64),
        ("float_value", 12, F.TYPE_FLOAT),
        ("double_value", 13, F.TYPE_DOUBLE),
        ("boolean_value", 14, F.TYPE_BOOL),
        ("string_value", 15, F.TYPE_STRING),
        ("bytes_value", 16, F.TYPE_BYTES),
    ):
        metric.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL, oneof_index=0)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.Payload"))


Payload = _build()


def now_ms() -> int:
    return int(time.time() * 1000)


def metric_value(metric) -> Any:
    """The metric's value as Python (signed integers restored from their unsigned wire
    form, as the specification encodes them); ``None`` when ``is_null``."""
    if metric.is_null:
        return None
    field = metric.WhichOneof("value")
    if field is None:
        return None
    value = getattr(metric, field)
    bits = _SIGNED_BITS.get(metric.datatype)
    if bits and isinstance(value, int) and value >= 1 << (bits - 1):
        value -= 1 << bits
    if metric.datatype == DATATYPES["DateTime"]:
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC).isoformat()
    return value


def add_metric(payload, name: str, datatype: str, value: Any, *, alias=None, timestamp=None):
    """Append a metric (used for NCMD rebirth requests, and by test edge nodes)."""
    metric = payload.metrics.add()
    if name:
        metric.name = name
    if alias is not None:
        metric.alias = alias
    metric.timestamp = timestamp if timestamp is not None else now_ms()
    code = DATATYPES[datatype]
    metric.datatype = code
    if value is None:
        metric.is_null = True
        return metric
    field = _VALUE_FIELD[code]
    if field in ("int_value", "long_value") and value < 0:
        value += 1 << (32 if field == "int_value" else 64)
    setattr(metric, field, value)
    return metric
