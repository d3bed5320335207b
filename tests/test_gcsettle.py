"""The web processes' collector settings (``interlock.gcsettle``, called by asgi/wsgi)."""

from __future__ import annotations

import gc

import pytest
from django.core.exceptions import ImproperlyConfigured

from interlock import gcsettle


@pytest.fixture
def collector(monkeypatch):
    calls = []
    monkeypatch.setattr(gcsettle.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gcsettle.gc, "collect", lambda: calls.append("collect"))
    before = gc.get_threshold()
    yield calls
    gc.set_threshold(*before)


def test_start_up_is_collected_then_frozen_and_gen0_raised(collector, monkeypatch):
    monkeypatch.delenv("INTERLOCK_GC_GEN0_THRESHOLD", raising=False)
    older = gc.get_threshold()[1:]
    gcsettle.settle_gc()
    assert collector == ["collect", "freeze"]
    assert gc.get_threshold() == (gcsettle.DEFAULT_GEN0_THRESHOLD, *older)


def test_the_threshold_comes_from_the_environment_and_zero_keeps_pythons(collector, monkeypatch):
    monkeypatch.setenv("INTERLOCK_GC_GEN0_THRESHOLD", "20000")
    gcsettle.settle_gc()
    assert gc.get_threshold()[0] == 20000
    gc.set_threshold(700, *gc.get_threshold()[1:])
    monkeypatch.setenv("INTERLOCK_GC_GEN0_THRESHOLD", "0")
    gcsettle.settle_gc()
    assert gc.get_threshold()[0] == 700


def test_a_bad_threshold_is_a_loud_error(collector, monkeypatch):
    monkeypatch.setenv("INTERLOCK_GC_GEN0_THRESHOLD", "lots")
    with pytest.raises(ImproperlyConfigured, match="INTERLOCK_GC_GEN0_THRESHOLD"):
        gcsettle.settle_gc()
