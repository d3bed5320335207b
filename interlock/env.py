"""Typed readers for configuration from environment variables.

Every helper fails loudly (``ImproperlyConfigured`` naming the variable and the bad value)
instead of silently falling back to a default: a typo in a deployment must stop the
process at start-up, not change behaviour at 3 a.m.

Secrets may also be given as ``NAME_FILE`` pointing at a file (Docker/Kubernetes secrets);
the file's content, stripped, wins over ``NAME``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class _Missing:
    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<required>"


REQUIRED = _Missing()


def _raw(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    environ = os.environ if environ is None else environ
    file_name = environ.get(f"{name}_FILE")
    if file_name:
        path = Path(file_name)
        if not path.is_file():
            raise ImproperlyConfigured(f"{name}_FILE points at {file_name!r}, which is not a file")
        return path.read_text(encoding="utf-8").strip()
    return environ.get(name)


def env_str(name: str, default: str | _Missing = REQUIRED, *, environ=None) -> str:
    value = _raw(name, environ)
    if value is None:
        if isinstance(default, _Missing):
            raise ImproperlyConfigured(f"environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool, *, environ=None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"environment variable {name}={value!r} is not a boolean (use one of 1/0, true/false, yes/no, on/off)"
    )


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None, environ=None
) -> int:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        result = default
    else:
        try:
            result = int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(
                f"environment variable {name}={value!r} is not an integer"
            ) from None
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(
            f"environment variable {name}={result} is below the minimum {minimum}"
        )
    if maximum is not None and result > maximum:
        raise ImproperlyConfigured(
            f"environment variable {name}={result} is above the maximum {maximum}"
        )
    return result


def env_float(name: str, default: float, *, minimum: float | None = None, environ=None) -> float:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        result = default
    else:
        try:
            result = float(value.strip())
        except ValueError:
            raise ImproperlyConfigured(
                f"environment variable {name}={value!r} is not a number"
            ) from None
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(
            f"environment variable {name}={result} is below the minimum {minimum}"
        )
    return result


def env_list(name: str, default: list[str], *, environ=None) -> list[str]:
    """Comma-separated list; blanks are dropped (``"a, b,"`` → ``["a", "b"]``)."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...], *, environ=None) -> str:
    value = env_str(name, default, environ=environ).strip()
    if value not in choices:
        raise ImproperlyConfigured(
            f"environment variable {name}={value!r} is not one of {', '.join(choices)}"
        )
    return value


def env_url(
    name: str, default: str | _Missing = REQUIRED, *, schemes: tuple[str, ...], environ=None
) -> str:
    value = env_str(name, default, environ=environ).strip()
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(
            f"environment variable {name}={value!r} must be a URL with scheme {' or '.join(schemes)}"
        )
    return value


def env_networks(name: str, default: list[str], *, environ=None) -> list:
    """Comma-separated IP networks (``10.0.0.0/8, ::1``); a bad entry stops start-up."""
    import ipaddress

    networks = []
    for item in env_list(name, default, environ=environ):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"environment variable {name}: {item!r} is not an IP address or network"
            ) from None
    return networks
