from django.urls import path

from citriage.github import views

app_name = "github"
urlpatterns = [
    path("webhooks/github", views.github_webhook, name="webhook"),
]
