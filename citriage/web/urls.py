from django.urls import path

from citriage.web import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("patterns/", views.patterns, name="patterns"),
    path("patterns/new/", views.workbench, name="workbench"),
    path("patterns/<int:pk>/", views.pattern, name="pattern"),
    path("patterns/<int:pk>/edit", views.pattern_edit, name="pattern-edit"),
    path("patterns/<int:pk>/retire", views.pattern_retire, name="pattern-retire"),
    path("patterns/<int:pk>/progress", views.pattern_progress, name="pattern-progress"),
    path("jobs/<int:pk>/", views.job, name="job"),
    path("jobs/<int:pk>/<str:action>", views.job_action, name="job-action"),
    path("commits/<str:sha>/", views.commit, name="commit"),
    path("unattributed/", views.unattributed, name="unattributed"),
    path("flaky/", views.flaky, name="flaky"),
    path("system/", views.system, name="system"),
]
