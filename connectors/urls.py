"""Routes of the connectors app (mounted under /api/v1/)."""

from django.urls import path

from .inbound.rest import BulkEventView, EventView

urlpatterns = [
    path("events", EventView.as_view(), name="events"),
    path("events/bulk", BulkEventView.as_view(), name="events-bulk"),
]
