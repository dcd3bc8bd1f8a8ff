"""Indexes that only slowed the writes of a prefetch: every other index of these tables
already starts with the sync (or, for the repeat check, with the sync and the event id).

The foreign keys' own indexes are dropped by name, found in the database, rather than by
altering the fields: on SQLite that would rebuild the event text table and lose the
triggers that fill its text index."""

from django.db import migrations, models

TABLES = ("storedevent", "eventtext")


def _sync_only_indexes(schema_editor, table):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and info["columns"] == ["sync_id"]
    ]


def drop_sync_indexes(apps, schema_editor):
    for model_name in TABLES:
        table = apps.get_model("reviewer", model_name)._meta.db_table
        for name in _sync_only_indexes(schema_editor, table):
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def create_sync_indexes(apps, schema_editor):
    for model_name in TABLES:
        model = apps.get_model("reviewer", model_name)
        if not _sync_only_indexes(schema_editor, model._meta.db_table):
            field = model._meta.get_field("sync")
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("reviewer", "0008_audit_actions_of_review_and_accounts"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="eventtext", name="eventtext_pending"),
        migrations.RemoveIndex(model_name="storedevent", name="event_by_id"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=model_name,
                    name="sync",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name=related_name,
                        to="reviewer.timelinesync",
                    ),
                )
                for model_name, related_name in (("eventtext", "+"), ("storedevent", "events"))
            ],
            database_operations=[migrations.RunPython(drop_sync_indexes, create_sync_indexes)],
        ),
    ]
