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
        register_event_source(stored_events)
