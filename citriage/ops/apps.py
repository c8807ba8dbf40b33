from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "citriage.ops"
    label = "ops"
    verbose_name = "Operations"
