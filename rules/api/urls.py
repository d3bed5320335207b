"""REST endpoints of the rules app; include under ``/api/v1/rules/`` in ``interlock/urls.py``."""

from django.urls import path

from . import bundles, views

app_name = "rules"

urlpatterns = [
    path("schema", views.RuleSetSchemaView.as_view(), name="ruleset-schema"),
    path("validate", views.ValidateView.as_view(), name="validate"),
    path("versions", views.VersionListCreateView.as_view(), name="version-list"),
    path("versions/<int:pk>", views.VersionDetailView.as_view(), name="version-detail"),
    path("versions/<int:pk>/submit", views.SubmitView.as_view(), name="version-submit"),
    path("versions/<int:pk>/approve", views.ApproveView.as_view(), name="version-approve"),
    path("versions/<int:pk>/publish", views.PublishView.as_view(), name="version-publish"),
    path("versions/<int:pk>/simulate", views.SimulateView.as_view(), name="version-simulate"),
    path("bundle", bundles.BundleExportView.as_view(), name="bundle-export"),
    path("bundle/import", bundles.BundleImportView.as_view(), name="bundle-import"),
    path("rulesets/<str:key>/rollback", views.RollbackView.as_view(), name="ruleset-rollback"),
]
