"""`make test` without PostgreSQL/Redis: skipped tests are named; required services fail."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = """
import pytest

@pytest.mark.postgres
def test_needs_pg():
    pass

@pytest.mark.redis
def test_needs_redis():
    pass

def test_plain():
    pass
"""


def _run(tmp_path, **extra):
    sample = tmp_path / "test_sample.py"
    sample.write_text(SAMPLE)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "INTERLOCK_REQUIRE_SERVICES"}
    }
    env.update(
        INTERLOCK_TEST_DATABASE_URL="postgres://nobody@127.0.0.1:1/none",  # nothing listens on port 1
        INTERLOCK_TEST_REDIS_URL="redis://127.0.0.1:1/0",
        INTERLOCK_VAR_DIR=str(tmp_path / "var"),
        **extra,
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(sample),
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(ROOT),
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_services_are_skipped_and_listed_by_name(tmp_path):
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 2 skipped" in result.stdout
    assert "tests skipped because a service was missing" in result.stdout
    assert "test_sample.py::test_needs_pg" in result.stdout
    assert "test_sample.py::test_needs_redis" in result.stdout


def test_required_services_turn_skips_into_failures(tmp_path):
    result = _run(tmp_path, INTERLOCK_REQUIRE_SERVICES="1")
    assert result.returncode != 0
    assert "2 errors" in result.stdout, result.stdout  # failed in setup: reported as errors
    assert "PostgreSQL is required" in result.stdout
