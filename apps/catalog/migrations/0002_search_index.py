"""PostgreSQL: a GIN index over the search tokens (``string_to_array(search_document, ' ')``).

Containment (``@>``) on a text[] is exact element matching, independent of the database
collation, so Korean bigrams and English words are indexed alike. SQLite has no such
index; the search there falls back to LIKE (``selectors._search_filter``).
"""

from django.db import migrations

INDEX = "catalog_product_search_gin"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON catalog_product "
        "USING gin ((string_to_array(search_document, ' ')))"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
