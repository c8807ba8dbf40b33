from django.apps import AppConfig


class TestResultsConfig(AppConfig):
    name = "citriage.testresults"
    label = "testresults"
    verbose_name = "Test results"

    def ready(self) -> None:
        from citriage.testresults import receivers

        receivers.connect()
