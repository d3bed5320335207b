"""The product's URLs plus the naive baseline under ``/bench/naive/`` (benchmark server only)."""

from django.urls import include, path

from interlock.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/naive/", include("bench.naive.urls")),
    *product_urlpatterns,
]
