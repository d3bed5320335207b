"""Routes of the plants API (mounted under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("plants", views.PlantViewSet)
router.register("systems", views.ConnectedSystemViewSet)
router.register("mappings/items", views.ItemMappingViewSet)
router.register("mappings/work-centers", views.WorkCenterMappingViewSet)
router.register("mappings/uoms", views.UomMappingViewSet)
router.register("mappings/statuses", views.StatusMappingViewSet)
router.register("items", views.ItemViewSet)
router.register("uoms", views.UnitOfMeasureViewSet)
router.register("work-centers", views.WorkCenterViewSet)
router.register("suppliers", views.SupplierViewSet)

urlpatterns = router.urls
