"""The exception workbench over REST: replay and discard, of messages and of events.

One view per operation; each loads the object within the caller's plants (someone who
may not even see it gets a 404, as in the trace) and calls one service in
``orchestrator.services.replay``, which checks the object-level permission (a 403 for an
auditor, who sees but may not act) and writes the audit record.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from interlock.api import PEOPLE_ONLY
from interlock.errors import DomainError, ErrorDetail
from plants.selectors import scope_queryset

from ..models import Event, InboundMessage
from ..services import replay as services
from ..services import replay_version as versions
from .serializers import code

TAGS = ["workbench"]

_Error = inline_serializer(
    "WorkbenchError",
    {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "details": serializers.ListField(child=serializers.DictField()),
    },
)
ERRORS = {
    400: OpenApiResponse(_Error, description="Missing or invalid reason."),
    403: OpenApiResponse(_Error, description="No replay/discard permission at its plant."),
    404: OpenApiResponse(_Error, description="Not found at the caller's plants."),
    409: OpenApiResponse(_Error, description="Not in a state this action applies to."),
}


class WorkbenchMessageSerializer(serializers.ModelSerializer):
    """A stored message after an operator's action."""

    system = code(allow_null=True)
    plant = code(allow_null=True)
    handled_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = InboundMessage
        fields = [
            "id",
            "received_at",
            "system",
            "plant",
            "event_type",
            "correlation_id",
            "status",
            "reasons",
            "event",
            "replay_of",
            "handled_by",
            "handled_reason",
        ]


class WorkbenchEventSerializer(serializers.ModelSerializer):
    """A canonical event after an operator's action."""

    plant = code()
    system = code()

    class Meta:
        model = Event
        fields = [
            "id",
            "plant",
            "system",
            "event_type",
            "correlation_id",
            "idempotency_key",
            "status",
            "reasons",
            "waiting_for",
            "applied_at",
        ]


class DiscardInput(serializers.Serializer):
    """Request body of a discard."""

    reason = serializers.CharField(max_length=services.REASON_MAX, help_text="Why (audited).")


class _WorkbenchView(APIView):
    permission_classes = PEOPLE_ONLY
    model: type = InboundMessage

    def get_object(self, pk: int, model: type | None = None):
        model = model or self.model
        perm = f"orchestrator.view_{model._meta.model_name}"
        qs = scope_queryset(model.objects.all(), user=self.request.user, perm=perm)
        return get_object_or_404(qs, pk=pk)


class MessageReplayView(_WorkbenchView):
    """Re-ingest a quarantined, rejected or conflicting message as its system (after a
    fix); the answer is the new message, which points back with ``replay_of``."""

    @extend_schema(
        tags=TAGS,
        operation_id="messages_replay",
        request=None,
        responses={200: WorkbenchMessageSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        replay = services.message_replay(message=self.get_object(pk), actor=request.user)
        return Response(WorkbenchMessageSerializer(replay).data)


class MessageDiscardView(_WorkbenchView):
    """Set a message aside for good, with a reason."""

    @extend_schema(
        tags=TAGS,
        operation_id="messages_discard",
        request=DiscardInput,
        responses={200: WorkbenchMessageSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        data = DiscardInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_discard(
            message=self.get_object(pk), actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(WorkbenchMessageSerializer(message).data)


class EventReplayView(_WorkbenchView):
    """Re-apply a quarantined or escalated event through its handler (after a fix)."""

    model = Event

    @extend_schema(
        tags=TAGS,
        operation_id="events_replay",
        request=None,
        responses={200: WorkbenchEventSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        event = services.event_replay(event=self.get_object(pk), actor=request.user)
        return Response(WorkbenchEventSerializer(event).data)


class EventDiscardView(_WorkbenchView):
    """Set a quarantined, escalated or parked event aside for good, with a reason."""

    model = Event

    @extend_schema(
        tags=TAGS,
        operation_id="events_discard",
        request=DiscardInput,
        responses={200: WorkbenchEventSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        data = DiscardInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.event_discard(
            event=self.get_object(pk), actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(WorkbenchEventSerializer(event).data)


# --- replay with a chosen rule version -------------------------------------------------------
class VersionChoiceSerializer(serializers.Serializer):
    """A rule set version that may be pinned for a replay."""

    id = serializers.IntegerField()
    label = serializers.CharField(help_text="``<rule set>@<number>``")
    ruleset = serializers.CharField(source="ruleset.key")
    number = serializers.IntegerField()
    state = serializers.CharField()
    plant = serializers.CharField(
        source="plant.code", allow_null=True, default=None, help_text="Set for a plant override."
    )


class ItemsInput(serializers.Serializer):
    """Which items: events and/or stored messages (whose event is re-applied)."""

    events = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list, max_length=200
    )
    messages = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list, max_length=200
    )

    def validate(self, attrs):
        if not attrs["events"] and not attrs["messages"]:
            raise serializers.ValidationError("Name at least one event or message.")
        return attrs


class DryRunInput(ItemsInput):
    version = serializers.IntegerField(help_text="The rule set version to pin.")


class VersionReplayInput(DryRunInput):
    reason = serializers.CharField(max_length=services.REASON_MAX, help_text="Why (audited).")
    fingerprint = serializers.CharField(
        max_length=64, help_text="The ``fingerprint`` of the dry run you looked at."
    )


class JudgementSerializer(serializers.Serializer):
    decision = serializers.CharField(
        help_text="applied, quarantined, parked, accepted (no handler) or error"
    )
    actions = serializers.ListField(child=serializers.DictField())
    reasons = serializers.ListField(child=serializers.DictField())
    versions = serializers.DictField(
        child=serializers.CharField(), help_text="Rule set key → version that judged it."
    )


class PreviewSerializer(serializers.Serializer):
    event = serializers.IntegerField(source="event.pk")
    event_type = serializers.CharField(source="event.event_type")
    correlation_id = serializers.CharField(source="event.correlation_id")
    item = serializers.CharField(help_text="The item as selected (event or message).")
    changed = serializers.BooleanField()
    current = JudgementSerializer(help_text="A replay now, with the versions live at the plant.")
    chosen = JudgementSerializer(help_text="A replay now, with the chosen version pinned.")
    added = serializers.ListField(child=serializers.DictField())
    removed = serializers.ListField(child=serializers.DictField())


class DryRunSerializer(serializers.Serializer):
    version = serializers.CharField(source="version.label")
    fingerprint = serializers.CharField(help_text="Send it with the replay.")
    changed = serializers.IntegerField(help_text="Events whose outcome differs.")
    events = PreviewSerializer(many=True, source="previews")
    refused = serializers.ListField(child=serializers.CharField())


class VersionReplayResultSerializer(serializers.Serializer):
    version = serializers.CharField()
    replayed = WorkbenchEventSerializer(many=True)
    refused = serializers.ListField(child=serializers.CharField())


class _VersionView(_WorkbenchView):
    def items(self, data) -> list:
        """The events and messages named, each within the caller's plants (else 404)."""
        events = [self.get_object(pk, Event) for pk in data["events"]]
        return events + [self.get_object(pk, InboundMessage) for pk in data["messages"]]

    def parse(self, request, serializer_class) -> tuple[dict, list, object]:
        """``(validated body, items, version)`` of a dry run or a replay request."""
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return values, self.items(values), self.version(values["version"])

    def version(self, pk: int):
        from rules.models import RuleSetVersion

        version = RuleSetVersion.objects.select_related("ruleset").filter(pk=pk).first()
        if version is None:
            raise DomainError(
                message=f"No rule set version {pk}.",
                code="unknown_version",
                details=[ErrorDetail(path="version", code="not_found", message="unknown")],
            )
        return version


class ReplayVersionsView(_VersionView):
    """The rule set versions that may be pinned to replay these events or messages:
    approved or published, global or an override for their plant, with a rule for their
    event type. Drafts are never offered (they have not passed four eyes)."""

    @extend_schema(
        tags=TAGS,
        operation_id="workbench_replay_versions",
        parameters=[ItemsInput],
        responses={200: VersionChoiceSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        data = ItemsInput(
            data={
                "events": request.query_params.getlist("events"),
                "messages": request.query_params.getlist("messages"),
            }
        )
        data.is_valid(raise_exception=True)
        choices = versions.replay_version_choices(
            items=self.items(data.validated_data), actor=request.user
        )
        return Response(VersionChoiceSerializer(choices, many=True).data)


class VersionDryRunView(_VersionView):
    """Dry run of a replay with a chosen version: per event, the outcome of a replay now
    with the versions live at the plant and with the chosen one pinned (decision, actions,
    reasons). Changes nothing; its ``fingerprint`` goes with the replay."""

    @extend_schema(
        tags=TAGS,
        operation_id="workbench_version_dry_run",
        request=DryRunInput,
        responses={200: DryRunSerializer, **ERRORS},
    )
    def post(self, request):
        _, items, version = self.parse(request, DryRunInput)
        result = versions.version_dry_run(items=items, version=version, actor=request.user)
        return Response(DryRunSerializer(result).data)


class VersionReplayView(_VersionView):
    """Replay with the chosen version pinned, after the dry run whose ``fingerprint`` is
    sent (409 ``dry_run_stale`` when the outcome is no longer the one it showed). The
    audit names the version, the caller and the reason."""

    @extend_schema(
        tags=TAGS,
        operation_id="workbench_version_replay",
        request=VersionReplayInput,
        responses={200: VersionReplayResultSerializer, **ERRORS},
    )
    def post(self, request):
        values, items, version = self.parse(request, VersionReplayInput)
        preview, done, refused = versions.version_replay(
            items=items,
            version=version,
            actor=request.user,
            reason=values["reason"],
            fingerprint=values["fingerprint"],
        )
        return Response(
            VersionReplayResultSerializer(
                {"version": preview.version.label, "replayed": done, "refused": refused}
            ).data
        )
