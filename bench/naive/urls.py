from django.urls import path

from .api import NaiveBulkView, NaiveEventView

urlpatterns = [
    path("events", NaiveEventView.as_view()),
    path("events/bulk", NaiveBulkView.as_view()),
]
