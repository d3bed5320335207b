"""Routes of the plants API (mounted under /api/v1/): configuration CRUD behind a router,
actions (``systems/{code}/keys``, ``api-keys/{prefix}/revoke``, ``mappings/*/import``,
``plants/{code}/onboard``) as explicit endpoints on their ViewSets."""

from rest_framework.routers import SimpleRouter

from . import config as views

router = SimpleRouter(trailing_slash=False)
router.register("plants", views.PlantViewSet)
router.register("systems", views.ConnectedSystemViewSet)
router.register("api-keys", views.ApiKeyViewSet)
router.register("mappings/items", views.ItemMappingViewSet)
router.register("mappings/work-centers", views.WorkCenterMappingViewSet)
router.register("mappings/uoms", views.UomMappingViewSet)
router.register("mappings/statuses", views.StatusMappingViewSet)
router.register("items", views.ItemViewSet)
router.register("item-revisions", views.ItemRevisionViewSet)
router.register("uoms", views.UnitOfMeasureViewSet)
router.register("work-centers", views.WorkCenterViewSet)
router.register("suppliers", views.SupplierViewSet)
router.register("parameters", views.SiteParameterViewSet)
router.register("parameter-overrides", views.SiteParameterOverrideViewSet)
router.register("release-windows", views.ReleaseWindowViewSet)
router.register("release-freezes", views.ReleaseFreezeViewSet)

urlpatterns = router.urls
