"""Dispatcher: ``python -m bench rules`` runs ``bench/rules_bench.py``; add entries below."""

from __future__ import annotations

import importlib
import os
import sys

BENCHMARKS = {
    "rules": "bench.rules_bench",
}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in BENCHMARKS:
        print(f"usage: python -m bench {{{'|'.join(BENCHMARKS)}}} [args]")
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interlock.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    module = importlib.import_module(BENCHMARKS[argv[1]])
    return module.main(argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
