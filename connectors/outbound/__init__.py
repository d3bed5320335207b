"""Outbound connectors: delivery of outbox messages to connected systems.

- ``base``: the :class:`Connector` contract, :class:`Receipt`, :class:`ConnectorError` and
  the registry by transport (``@register("rest")``).
- ``rest``: the REST/JSON adapter (single and batch endpoints, bearer/basic/HMAC auth).
- ``delivery``: claiming due rows, sending them in batches per system, retries with
  backoff, dead-letter; what the Celery tasks call.
- ``ratelimit`` / ``circuit``: per-system token bucket and circuit breaker.
- ``acks``: what an acknowledgment changes in Interlock, by (system kind, message type).

Adding a transport: copy ``rest.py``, register it under the ``Transport`` value, and
import it in :func:`base.connector_for`'s module list (``TRANSPORT_MODULES``).
"""
