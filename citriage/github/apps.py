from django.apps import AppConfig


class GithubConfig(AppConfig):
    name = "citriage.github"
    label = "github"
    verbose_name = "GitHub"

    def ready(self) -> None:
        from citriage.github import receivers

        receivers.connect()
