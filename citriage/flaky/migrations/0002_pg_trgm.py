"""pg_trgm for near-identical failure lines on PostgreSQL, where the server allows it
(citriage.triage.similar falls back to comparing tokens without it)."""

from django.db import migrations


def create_extension(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SAVEPOINT trgm")
            try:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                cursor.execute("RELEASE SAVEPOINT trgm")
            except Exception:
                cursor.execute("ROLLBACK TO SAVEPOINT trgm")
    except Exception:  # no extension: the fallback is used
        pass


class Migration(migrations.Migration):
    dependencies = [("flaky", "0001_initial")]
    operations = [migrations.RunPython(create_extension, migrations.RunPython.noop)]
