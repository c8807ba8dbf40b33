from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "citriage.triage"
    label = "triage"
    verbose_name = "Triage"
