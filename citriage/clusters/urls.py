from django.urls import path

from citriage.clusters import views

app_name = "clusters"
urlpatterns = [
    path("", views.clusters, name="clusters"),
]
