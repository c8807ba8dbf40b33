from django.apps import AppConfig


class WebConfig(AppConfig):
    default = True  # this module also holds the GitHub login app config
    name = "citriage.web"
    label = "web"
    verbose_name = "Web UI"

    def ready(self) -> None:
        from citriage.web import signals  # noqa: F401 - connects the login receiver


class GitHubLoginConfig(AppConfig):
    """allauth's GitHub provider under another label: ours, citriage.github, is "github"."""

    name = "allauth.socialaccount.providers.github"
    label = "allauth_github"
    verbose_name = "GitHub login"
