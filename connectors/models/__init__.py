"""Connector-side state: outbound circuit breakers and the configuration of the inbound
transports (webhook secrets, CSV layouts, Sparkplug B metric mappings, Tryton sources)."""

from .circuit import CircuitBreaker, CircuitState
from .inbound import (
    CsvLayout,
    SparkplugMetricMapping,
    SparkplugTrigger,
    TrytonSource,
    WebhookSecret,
)

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "CsvLayout",
    "SparkplugMetricMapping",
    "SparkplugTrigger",
    "TrytonSource",
    "WebhookSecret",
]
