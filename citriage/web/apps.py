from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "citriage.web"
    label = "web"
    verbose_name = "Web UI"
