from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Rules and governance"
    default_auto_field = "django.db.models.BigAutoField"
