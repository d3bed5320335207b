"""Adapters per transport and per target system, and simulators for the demo and tests."""
