"""Benchmark-only baseline: the naive way to take events (never installed in the product).

A plain DRF ``ModelSerializer`` that saves one row per event with Django's defaults
(autocommit, so one INSERT and one commit per event). ``bench/settings.py`` adds this app
and its URLs for the benchmark server only; ``interlock.settings`` never sees it.
"""
