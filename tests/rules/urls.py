"""URLconf for the rules API tests until interlock/urls.py includes ``rules.api.urls``."""

from django.urls import include, path

urlpatterns = [path("api/v1/rules/", include("rules.api.urls"))]
