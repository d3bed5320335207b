from django.db import models


class NaiveEvent(models.Model):
    """One event envelope as posted, stored as is (the baseline's only table)."""

    source = models.CharField(max_length=100)
    plant = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    message_id = models.CharField(max_length=200, blank=True)
    correlation_id = models.CharField(max_length=100, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    # W3 baseline (``bench/naive/tasks.py``): when its one task posted it to the ERP.
    delivered_at = models.DateTimeField(null=True, blank=True)
    erp_reference = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"naive event {self.pk} {self.type}"
