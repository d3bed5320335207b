"""Top-level URLs: admin, the v1 API and its OpenAPI documents."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

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
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

# A refusal names what is missing instead of a bare "403 Forbidden" (plants.admin.denied).
handler403 = "plants.admin.denied.permission_denied"
