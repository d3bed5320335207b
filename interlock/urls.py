"""Top-level URLs: admin, the v1 API and its OpenAPI documents."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from interlock.api import api_not_found
from orchestrator.observability.dashboard import dashboard_view
from orchestrator.observability.metrics import metrics_view

admin.site.site_header = "Interlock"
admin.site.site_title = "Interlock"
admin.site.index_title = "Integration control"

api_v1 = [
    path("", include("plants.api.urls")),
    path("", include("orchestrator.api.urls")),
    path("rules/", include("rules.api.urls")),
    path("", include("connectors.urls")),
]

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="observability-dashboard"),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),  # /healthz, /readyz: interlock.health
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Anything else under /api/ is a JSON 404 in the one error shape, DEBUG or not.
    re_path(r"^api/", api_not_found),
]
handler404 = "interlock.api.api_not_found"

# A refusal names what is missing instead of a bare "403 Forbidden" (plants.admin.denied).
handler403 = "plants.admin.denied.permission_denied"
