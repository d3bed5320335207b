"""The configuration API of the inbound transports: what a plant admin (or the board, for
webhook secrets) configures in the admin under Connectors, with the same services and
permissions.

- ``/api/v1/csv-layouts``, ``/sparkplug-mappings``, ``/tryton-sources``: plant-scoped
  CRUD through :mod:`plants.services.config` (the permission is checked at the row's
  plant, ``full_clean()`` names every problem, simple-history records the actor).
- ``/api/v1/webhook-secrets``: list; ``POST`` issues a secret (shown in that answer only;
  refused while two are active, so a rotation is issue, switch the sender, revoke);
  ``POST …/{id}/revoke``. Through :mod:`connectors.services`, like the admin.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from plants.api.config import ERRORS, ConfigViewSet, DeletableConfigViewSet
from plants.api.permissions import ConfigPermission
from plants.api.scoping import PlantScopedReadOnlyViewSet
from plants.models import ConnectedSystem, Plant

from ..models import CsvLayout, SparkplugMetricMapping, TrytonSource, WebhookSecret
from ..services import webhook_secret_issue, webhook_secret_revoke


def _code(model, **kwargs):
    return serializers.SlugRelatedField(slug_field="code", queryset=model.objects.all(), **kwargs)


class CsvLayoutSerializer(serializers.ModelSerializer):
    system = _code(ConnectedSystem)
    plant = _code(Plant)

    class Meta:
        model = CsvLayout
        fields = [
            "id",
            "system",
            "plant",
            "name",
            "filename_pattern",
            "event_type",
            "delimiter",
            "columns",
            "active",
        ]


class SparkplugMetricMappingSerializer(serializers.ModelSerializer):
    system = _code(ConnectedSystem)
    plant = _code(Plant)

    class Meta:
        model = SparkplugMetricMapping
        fields = [
            "id",
            "system",
            "plant",
            "group_id",
            "edge_node_id",
            "device_id",
            "metric",
            "trigger",
            "event_type",
            "payload",
            "active",
        ]


class TrytonSourceSerializer(serializers.ModelSerializer):
    system = _code(ConnectedSystem)
    plant = _code(Plant)

    class Meta:
        model = TrytonSource
        fields = [
            "id",
            "system",
            "plant",
            "warehouse",
            "routing_revision",
            "operations",
            "active",
            "watermark",
            "last_polled_at",
            "last_error",
        ]
        read_only_fields = ["watermark", "last_polled_at", "last_error"]


class WebhookSecretSerializer(serializers.ModelSerializer):
    system = serializers.SlugRelatedField(slug_field="code", read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    revoked_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = WebhookSecret
        fields = [
            "id",
            "system",
            "name",
            "created_at",
            "created_by",
            "expires_at",
            "revoked_at",
            "revoked_by",
        ]
        read_only_fields = fields


class WebhookSecretIssueSerializer(serializers.Serializer):
    system = _code(ConnectedSystem)
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class WebhookSecretIssuedSerializer(WebhookSecretSerializer):
    secret = serializers.CharField(help_text="Shown in this answer only.")

    class Meta(WebhookSecretSerializer.Meta):
        fields = [*WebhookSecretSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class CsvLayoutViewSet(DeletableConfigViewSet):
    """How a system's CSV files become events at a plant (README "Inbound transports")."""

    queryset = CsvLayout.objects.select_related("system", "plant")
    serializer_class = CsvLayoutSerializer
    filterset_fields = ["plant__code", "system__code", "event_type", "active"]
    search_fields = ["name", "filename_pattern"]


class SparkplugMetricMappingViewSet(DeletableConfigViewSet):
    """Which Sparkplug B metric of which edge node becomes which event at a plant."""

    queryset = SparkplugMetricMapping.objects.select_related("system", "plant")
    serializer_class = SparkplugMetricMappingSerializer
    filterset_fields = ["plant__code", "system__code", "event_type", "active"]
    search_fields = ["group_id", "edge_node_id", "device_id", "metric"]


class TrytonSourceViewSet(ConfigViewSet):
    """Where the Tryton poller reads a plant's released productions (deactivate, never
    delete: the row holds the poller's position)."""

    queryset = TrytonSource.objects.select_related("system", "plant")
    serializer_class = TrytonSourceSerializer
    filterset_fields = ["plant__code", "system__code", "active"]


class WebhookSecretViewSet(PlantScopedReadOnlyViewSet):
    """Signing secrets of systems' webhooks, as stored (never the secret itself)."""

    queryset = WebhookSecret.objects.select_related("system", "created_by", "revoked_by")
    serializer_class = WebhookSecretSerializer
    permission_classes = [permissions.IsAuthenticated & ConfigPermission]
    system_readable = False
    filterset_fields = ["system__code"]
    action_perms = {
        "issue": "connectors.add_webhooksecret",
        "revoke": "connectors.change_webhooksecret",
    }

    @extend_schema(
        tags=["configuration"],
        operation_id="webhook_secrets_issue",
        summary="Issue a webhook signing secret (the secret is in this answer only)",
        request=WebhookSecretIssueSerializer,
        responses={201: WebhookSecretIssuedSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="issue")
    def issue(self, request):
        data = WebhookSecretIssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        secret, raw = webhook_secret_issue(
            system=data.validated_data["system"],
            name=data.validated_data["name"],
            expires_at=data.validated_data.get("expires_at"),
            actor=request.user,
        )
        body = {**WebhookSecretSerializer(secret).data, "secret": raw}
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # the secret must not sit in a cache
        return response

    @extend_schema(
        tags=["configuration"],
        operation_id="webhook_secrets_revoke",
        summary="Revoke a webhook secret at once",
        request=None,
        responses={200: WebhookSecretSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        secret = webhook_secret_revoke(secret=self.get_object(), actor=request.user)
        return Response(WebhookSecretSerializer(secret).data)
