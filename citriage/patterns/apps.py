from django.apps import AppConfig


class PatternsConfig(AppConfig):
    name = "citriage.patterns"
    label = "patterns"
    verbose_name = "Patterns and matches"

    def ready(self) -> None:
        from citriage.patterns import receivers

        receivers.connect(self)
