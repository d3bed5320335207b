from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "Orchestration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Rules must not import the orchestrator; the orchestrator tells rules what its
        # events look like and where its stored events are (for simulation).
        from rules.simulation import register_event_source

        from . import system_checks  # noqa: F401 - registers the deploy checks
        from .ingest.rules_bridge import register_schemas
        from .services import approvals, reconciliation  # noqa: F401 - complete their tasks
        from .simulation import stored_events

        register_schemas()
        # Parameter definitions survive a flush (post_migrate follows it, as for permissions).
        from django.db.models.signals import post_migrate

        from .parameters import ensure_site_parameters

        post_migrate.connect(
            ensure_site_parameters, sender=self, dispatch_uid="orchestrator.site_parameters"
        )
        register_event_source(stored_events)
