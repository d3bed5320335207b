from django.urls import path

from .api import NaiveBulkView, NaiveEventView, NaiveW3BulkView

urlpatterns = [
    path("events", NaiveEventView.as_view()),
    path("events/bulk", NaiveBulkView.as_view()),
    path("w3/events/bulk", NaiveW3BulkView.as_view()),
]
