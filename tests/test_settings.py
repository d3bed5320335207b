"""Configuration from the environment: typed, loud on bad values, deployable."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from interlock.env import env_bool, env_choice, env_int, env_list, env_str, env_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("helper", "value", "fragment"),
    [
        (lambda e: env_bool("X", False, environ=e), "maybe", "not a boolean"),
        (lambda e: env_int("X", 1, environ=e), "ten", "not an integer"),
        (lambda e: env_int("X", 1, minimum=1, environ=e), "0", "below the minimum 1"),
        (lambda e: env_choice("X", "a", ("a", "b"), environ=e), "c", "not one of a, b"),
        (lambda e: env_url("X", schemes=("postgres",), environ=e), "mysql://x", "scheme postgres"),
    ],
)
def test_bad_values_fail_loudly_naming_variable_and_value(helper, value, fragment):
    with pytest.raises(ImproperlyConfigured) as excinfo:
        helper({"X": value})
    assert "X=" in str(excinfo.value)
    assert fragment in str(excinfo.value)


def test_required_variable_missing_is_an_error():
    with pytest.raises(ImproperlyConfigured, match="X is required"):
        env_str("X", environ={})


def test_values_parse():
    env = {"B": "yes", "I": " 42 ", "L": "a, b,,c "}
    assert env_bool("B", False, environ=env) is True
    assert env_int("I", 0, environ=env) == 42
    assert env_list("L", [], environ=env) == ["a", "b", "c"]
    assert env_bool("MISSING", True, environ=env) is True


def test_file_variant_wins_for_secrets(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    assert env_str("S", environ={"S": "inline", "S_FILE": str(secret)}) == "from-file"
    with pytest.raises(ImproperlyConfigured, match="S_FILE"):
        env_str("S", environ={"S_FILE": str(tmp_path / "nope")})


def _manage(*args, **env):
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(ROOT),
        "INTERLOCK_VAR_DIR": str(ROOT / "var" / "test"),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="interlock.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_bad_database_url_stops_start_up():
    result = _manage("check", DEBUG="1", DATABASE_URL="mysql://nope")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


_CELERY_PRINT = (
    "from django.conf import settings as s; import json; print(json.dumps(["
    "s.CELERY_WORKER_PREFETCH_MULTIPLIER, s.CELERY_BROKER_TRANSPORT_OPTIONS,"
    " s.CACHES['outbox_wake']['BACKEND']]))"
)


def test_production_broker_settings_are_those_of_before_issue_12():
    # Redis: prefetch 1 and the visibility timeout, untouched by the demo's tuning; the
    # outbox wake-up flags live in the same Redis.
    result = _manage("shell", "-c", _CELERY_PRINT, DEBUG="1", REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 0, result.stderr
    prefetch, options, wake_cache = json.loads(result.stdout.strip().splitlines()[-1])
    assert prefetch == 1
    assert options == {"visibility_timeout": 3600}
    assert wake_cache.endswith("RedisCache")


def test_the_filesystem_broker_does_not_starve_its_worker():
    # Celery acks only between 2-s waits on this transport: prefetch 1 held the demo
    # worker to ~1 task/s (issue 12). The wake-up flags are files every process sees.
    result = _manage("shell", "-c", _CELERY_PRINT, DEBUG="1")
    assert result.returncode == 0, result.stderr
    prefetch, options, wake_cache = json.loads(result.stdout.strip().splitlines()[-1])
    assert prefetch >= 8
    assert options["polling_interval"] <= 0.2
    assert wake_cache.endswith("FileBasedCache")
