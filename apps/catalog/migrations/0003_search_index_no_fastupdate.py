"""PostgreSQL: write search tokens straight into the GIN index (no pending list).

With ``fastupdate`` on, bulk-inserted products sit in the index's pending list until a
vacuum, and the planner (rightly) prices the index scan too high and scans the table.
Catalog writes are rare; reads are constant.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX IF EXISTS catalog_product_search_gin SET (fastupdate = off)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX IF EXISTS catalog_product_search_gin RESET (fastupdate)")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_search_index")]
    operations = [migrations.RunPython(forwards, backwards)]
