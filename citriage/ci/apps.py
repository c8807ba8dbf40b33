from django.apps import AppConfig


class CiConfig(AppConfig):
    name = "citriage.ci"
    label = "ci"
    verbose_name = "CI history"
