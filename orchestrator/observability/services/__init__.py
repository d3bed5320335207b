"""Services of the observability app: rollups, samples and SLA evaluation."""
