"""Inbound adapters: authenticate a connected system and hand its messages to ingest."""
