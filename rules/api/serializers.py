"""Output serializers of the rules API, shared by the views and by the OpenAPI document.

Input serializers stay nested in their view (one per operation, STYLE.md); these are the
shapes several operations answer with, so drf-spectacular names each one component.
"""

from __future__ import annotations

from rest_framework import serializers

from rules.models import RuleSetVersion, SimulationReport


class TestResultOut(serializers.Serializer):
    """The outcome of one embedded example test of a rule set."""

    name = serializers.CharField()
    passed = serializers.BooleanField()
    message = serializers.CharField(allow_blank=True)


class VersionOut(serializers.ModelSerializer):
    """A rule set version as clients see it (codes and usernames, not internal ids)."""

    ruleset = serializers.CharField(source="ruleset.key")
    plant = serializers.CharField(source="plant.code", default=None, allow_null=True)
    author = serializers.CharField(source="author.username")
    approved_by = serializers.CharField(
        source="approved_by.username", default=None, allow_null=True
    )
    test_results = TestResultOut(many=True, read_only=True)

    class Meta:
        model = RuleSetVersion
        fields = [
            "id",
            "ruleset",
            "number",
            "plant",
            "state",
            "source",
            "author",
            "approved_by",
            "test_results",
            "created_at",
            "submitted_at",
            "approved_at",
            "published_at",
        ]


class ProblemOut(serializers.Serializer):
    """One mistake in a rule set document, with where it is (see ``rules.errors.Problem``)."""

    path = serializers.CharField(allow_blank=True, help_text="JSON pointer into the document.")
    code = serializers.CharField()
    message = serializers.CharField()
    line = serializers.IntegerField(help_text="1-based document line; 0 when unknown.")
    column = serializers.IntegerField(help_text="1-based document column; 0 when unknown.")
    expr_line = serializers.IntegerField(
        required=False, help_text="Line inside the CEL expression (CEL problems only)."
    )
    expr_column = serializers.IntegerField(
        required=False, help_text="Column inside the CEL expression (CEL problems only)."
    )


class ValidationOut(serializers.Serializer):
    """Answer of ``validate``: the problems, and the embedded tests' results when valid."""

    valid = serializers.BooleanField()
    problems = ProblemOut(many=True)
    tests = TestResultOut(many=True)


class ErrorDetailOut(serializers.Serializer):
    path = serializers.CharField(allow_blank=True)
    code = serializers.CharField()
    message = serializers.CharField()
    expected = serializers.JSONField(required=False)
    found = serializers.JSONField(required=False)


class ErrorOut(serializers.Serializer):
    """The one error body of the API (``interlock.api.exception_handler``)."""

    code = serializers.CharField()
    message = serializers.CharField()
    details = ErrorDetailOut(many=True)


class ScheduledOut(serializers.Serializer):
    plant = serializers.CharField()
    due_at = serializers.DateTimeField()


class ScheduledListOut(serializers.Serializer):
    """Answer of a scheduled publish: when each plant's release window opens."""

    scheduled = ScheduledOut(many=True)


class RollbackOut(serializers.Serializer):
    ruleset = serializers.CharField()
    version = serializers.CharField(help_text="The version now live (``key@number``).")
    previous = serializers.CharField(allow_null=True)


class SimulationGroupOut(serializers.Serializer):
    key = serializers.CharField(
        help_text="Rule id, action difference (``+hold_gate``, ``-notify_role``, "
        "``+error <rule>``, ``~order``) or event type."
    )
    events = serializers.IntegerField(help_text="How many changed events fall in the group.")
    examples = serializers.ListField(child=serializers.CharField())


class SimulationSummaryOut(serializers.Serializer):
    evaluated = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    baseline = serializers.CharField(allow_null=True)
    by_rule = SimulationGroupOut(many=True)
    by_action = SimulationGroupOut(many=True)
    by_event_type = SimulationGroupOut(many=True)
    truncated = serializers.BooleanField()


class SimulationChangeOut(serializers.Serializer):
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    added = serializers.ListField(child=serializers.DictField())
    removed = serializers.ListField(child=serializers.DictField())
    reordered = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    baseline_error = serializers.CharField(allow_null=True)
    actions = serializers.ListField(child=serializers.CharField())
    baseline_actions = serializers.ListField(child=serializers.CharField())


class SimulationReportOut(serializers.ModelSerializer):
    """A stored simulation: what the version would change at the plant, grouped."""

    version = serializers.CharField(source="version.label")
    baseline = serializers.CharField(source="baseline.label", default=None, allow_null=True)
    plant = serializers.CharField(source="plant.code")
    requested_by = serializers.CharField(
        source="requested_by.username", default=None, allow_null=True
    )
    summary = SimulationSummaryOut()
    changes = SimulationChangeOut(many=True)

    class Meta:
        model = SimulationReport
        fields = [
            "id",
            "version",
            "baseline",
            "plant",
            "requested_by",
            "created_at",
            "last_n",
            "since",
            "until",
            "events_evaluated",
            "events_changed",
            "summary",
            "changes",
        ]
