from django.apps import AppConfig


class PlantsConfig(AppConfig):
    name = "plants"
    verbose_name = "Plants and site mappings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (cache invalidation on mapping changes)
