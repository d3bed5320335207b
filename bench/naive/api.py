"""The baseline endpoints: DRF as the tutorial writes it, one row (and commit) per event."""

from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import NaiveEvent


class NaiveEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = NaiveEvent
        fields = [
            "id",
            "source",
            "plant",
            "type",
            "occurred_at",
            "message_id",
            "correlation_id",
            "payload",
        ]


# No authentication: the baseline is given every advantage.
class NaiveEventView(generics.CreateAPIView):
    serializer_class = NaiveEventSerializer
    authentication_classes = []
    permission_classes = [permissions.AllowAny]


class NaiveBulkView(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    def post(self, request):
        serializer = NaiveEventSerializer(data=request.data["events"], many=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response({"results": serializer.data}, status=status.HTTP_201_CREATED)


class NaiveW3BulkView(NaiveBulkView):
    """W3 baseline: the same rows, then one Celery task per event to post it to the ERP
    (``bench/naive/tasks.py``), enqueued once the rows are committed."""

    def post(self, request):
        from django.db import transaction

        from .tasks import post_event_to_erp

        response = super().post(request)
        for item in response.data["results"]:
            transaction.on_commit(lambda pk=item["id"]: post_event_to_erp.delay(pk))
        return response
