from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "citriage.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from citriage.ops import metrics

        metrics.connect()
