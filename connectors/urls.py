"""Routes of the connectors app (mounted under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import config
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

# Configuration of the inbound transports (connectors/api/config.py).
router = SimpleRouter(trailing_slash=False)
router.register("csv-layouts", config.CsvLayoutViewSet)
router.register("sparkplug-mappings", config.SparkplugMetricMappingViewSet)
router.register("tryton-sources", config.TrytonSourceViewSet)
router.register("webhook-secrets", config.WebhookSecretViewSet)
urlpatterns += router.urls
