from django.apps import AppConfig


class ClustersConfig(AppConfig):
    name = "citriage.clusters"
    label = "clusters"
    verbose_name = "Failure clusters"

    def ready(self) -> None:
        from citriage.clusters import sweeps  # noqa: F401 - registers the backfill sweep
