from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "citriage.triage"
    label = "triage"
    verbose_name = "Triage"

    def ready(self) -> None:
        from citriage.triage import refresh

        refresh.connect()
