"""Choice lists of the rules app."""

from django.db import models


class VersionState(models.TextChoices):
    """Lifecycle of a rule set version (DOMAIN.md)."""

    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class DecisionKind(models.TextChoices):
    """What a governance record says happened to a version."""

    COMMENT = "comment", "Comment"
    SUBMIT = "submit", "Submitted for review"
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Sent back to draft"
    PUBLISH = "publish", "Published"
    ROLLBACK = "rollback", "Rolled back"
    RETIRE = "retire", "Retired"
    SCHEDULE = "schedule", "Publish scheduled"
    SIMULATE = "simulate", "Simulated"


class ScheduleStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
