"""The sequence behind readable order numbers (``KR-20261130-000123``): ``nextval`` never
blocks and never queues concurrent checkouts on a counter row. PostgreSQL only; SQLite
numbers from the largest id under its write lock."""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS orders_order_number_seq", params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS orders_order_number_seq", params=None)


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
