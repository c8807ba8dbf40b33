from django.urls import path

from citriage.triage import views

app_name = "triage"
urlpatterns = [
    path("timeline/", views.timeline_page, name="timeline"),
    path("timeline/mark", views.timeline_mark, name="timeline-mark"),
    path("breakages/", views.breakage_list, name="breakages"),
    path("breakages/new", views.breakage_create, name="breakage-new"),
    path("breakages/<int:pk>/", views.breakage_detail, name="breakage"),
    path(
        "breakages/<int:pk>/close-by-revert", views.breakage_close_by_revert, name="breakage-revert"
    ),
    path("breakages/<int:pk>/delete", views.breakage_delete, name="breakage-delete"),
    path("health/", views.health_page, name="health"),
]
