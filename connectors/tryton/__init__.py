"""Tryton ERP over JSON-RPC: the client shared by the outbound connector
(``connectors.outbound.tryton``) and the release poller (``connectors.inbound.tryton``)."""
