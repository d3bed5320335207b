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
