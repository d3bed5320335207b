"""The product's URLs plus the naive baseline under ``/bench/naive/`` (benchmark server only)."""

import os

from django.urls import include, path

from interlock.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/naive/", include("bench.naive.urls")),
    *product_urlpatterns,
]

if os.environ.get("BENCH_PIPELINE_ONLY") == "1":
    # `python -m bench ingest --pipeline-only`: the ingest pipeline without the handlers
    # (events stay ``accepted``), to tell the pipeline's cost from the handlers'.
    from orchestrator.ingest import pipeline

    pipeline.apply_events = lambda ctx, events: None
