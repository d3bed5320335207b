"""The ingest tests' small plant world, for rules tests that need a real event history."""

from tests.ingest.conftest import post, world  # noqa: F401 - fixtures re-exported
