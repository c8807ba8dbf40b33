from django.urls import path

from citriage.github import setup_views, views

app_name = "github"
urlpatterns = [
    path("webhooks/github", views.github_webhook, name="webhook"),
    path("github/setup", setup_views.start, name="setup"),
    path("github/setup/done", setup_views.done, name="setup-done"),
]
