from django.contrib import admin
from django.urls import include, path

from citriage.web.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/", api.urls),
    path("", include("citriage.github.urls")),
    path("", include("citriage.web.urls")),
]
