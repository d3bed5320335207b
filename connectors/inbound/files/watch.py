"""The watched directory of the file-drop transport (beat task ``connectors.scan_file_drop``).

Layout under ``INTERLOCK_FILE_DROP_DIR``::

    <SYSTEM-CODE>/orders.xml            a file of that system (its one plant)
    <SYSTEM-CODE>/<PLANT>/counts.csv    … for a plant of a system serving several
    <SYSTEM-CODE>/done/<stamp>-<name>   read (whatever was quarantined inside)
    <SYSTEM-CODE>/failed/<stamp>-<name> could not be read at all (unknown system, I/O)

A file is claimed by renaming it into ``processing/`` first: the rename is atomic, so two
beat runs (or two workers) never read one file twice, and a writer still copying a file
under a temporary name (``.part``, ``.tmp``, or a leading dot) is left alone. A file a
crash left in ``processing/`` is read again by the next scan: idempotency turns what was
already ingested into duplicates, so nothing is lost or doubled.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from plants.models import ConnectedSystem

from . import file_ingest

logger = logging.getLogger(__name__)

SKIP_SUFFIXES = (".part", ".tmp", ".partial")
WORK_DIRS = ("processing", "done", "failed")


def _candidates(system_dir: Path):
    for entry in sorted(system_dir.iterdir()):
        if entry.is_file():
            yield entry, None
        elif entry.is_dir() and entry.name not in WORK_DIRS:
            for sub in sorted(entry.iterdir()):
                if sub.is_file():
                    yield sub, entry.name
    processing = system_dir / "processing"
    if processing.is_dir():  # left by a crash
        for entry in sorted(processing.iterdir()):
            plant, _, _ = entry.name.partition("__")
            yield entry, (plant or None)


def scan_file_drop(root: Path | None = None, *, max_files: int = 100) -> list[dict]:
    """Read the files waiting under ``root``; return one summary per file."""
    root = Path(root or settings.INTERLOCK_FILE_DROP_DIR)
    if not root.is_dir():
        return []
    summaries = []
    for system_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        system = ConnectedSystem.objects.filter(code=system_dir.name, active=True).first()
        for path, plant in _candidates(system_dir):
            if len(summaries) >= max_files:
                return summaries
            if path.name.startswith(".") or path.name.endswith(SKIP_SUFFIXES):
                continue
            summaries.append(_take(system_dir, system, path, plant))
    return summaries


def _take(system_dir: Path, system, path: Path, plant: str | None) -> dict:
    processing = system_dir / "processing"
    processing.mkdir(exist_ok=True)
    if path.parent != processing:
        claimed = processing / f"{plant or ''}__{path.name}"
        try:
            os.rename(path, claimed)
        except FileNotFoundError:  # another scan took it
            return {"file": str(path), "skipped": "taken by another scan"}
    else:
        claimed = path
    original = claimed.name.partition("__")[2] or claimed.name
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    if system is None:
        target = system_dir / "failed"
        summary = {"file": original, "error": f"no active system {system_dir.name}"}
    else:
        try:
            outcome = file_ingest(
                system=system, name=original, data=claimed.read_bytes(), plant_code=plant
            )
        except OSError as exc:
            target = system_dir / "failed"
            summary = {"file": original, "error": str(exc)}
        else:
            target = system_dir / "done"
            summary = {"file": original, **outcome.as_dict()}
            summary.pop("results", None)
            summary["counts"] = outcome.counts()
    target.mkdir(exist_ok=True)
    os.replace(claimed, target / f"{stamp}-{original}")
    logger.info("file drop read", extra={"system": system_dir.name, "summary": summary})
    return summary
