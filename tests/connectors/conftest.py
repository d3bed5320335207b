"""The ingest tests' plant world (P1 with its codes, an MES key, an ERP serving P1 and P2),
shared by the transport tests: each transport must end where ``POST /api/v1/events`` does."""

from tests.ingest.conftest import envelope, post, release, world  # noqa: F401 (fixtures)
