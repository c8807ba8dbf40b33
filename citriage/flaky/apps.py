from django.apps import AppConfig


class FlakyConfig(AppConfig):
    name = "citriage.flaky"
    label = "flaky"
    verbose_name = "Flaky tests"

    def ready(self) -> None:
        from citriage.flaky import receivers

        receivers.connect()
