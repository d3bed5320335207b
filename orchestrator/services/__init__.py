"""Write side of the orchestrator: every state change of a business object goes through
``lifecycle.transition_apply``; the per-object modules add thin, named services."""
