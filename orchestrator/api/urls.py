"""Routes of the orchestrator API (mounted under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("orders", views.OrderViewSet, basename="order")
router.register("lots", views.LotViewSet, basename="lot")
router.register("inspections", views.InspectionViewSet, basename="inspection")
router.register("nonconformances", views.NonconformanceViewSet, basename="nonconformance")
router.register("audit-records", views.AuditRecordViewSet, basename="audit-record")

urlpatterns = router.urls
