from django.apps import AppConfig


class FailureLinesConfig(AppConfig):
    name = "citriage.failurelines"
    # The label the app's tables were created under (it once also held the clusters page).
    label = "clusters"
    verbose_name = "Failure lines"
