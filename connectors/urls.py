"""Routes of the connectors app (mounted under /api/v1/)."""

from django.urls import path

from .inbound.files.views import FileUploadView
from .inbound.rest import BulkEventView, EventView
from .inbound.webhook import WebhookView

urlpatterns = [
    path("events", EventView.as_view(), name="events"),
    path("events/bulk", BulkEventView.as_view(), name="events-bulk"),
    # Inbound transports beyond REST (README "Inbound transports").
    path("webhooks/<str:system_code>", WebhookView.as_view(), name="webhooks"),
    path("files/<str:name>", FileUploadView.as_view(), name="files-upload"),
]
