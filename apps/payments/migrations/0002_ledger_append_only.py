"""The wallet ledger is append-only, in the database too: a trigger refuses any UPDATE or
DELETE of a ``payments_walletentry`` row, whoever sends it (a shell, a hand-written SQL fix,
a bug). Corrections are new entries (an adjustment or a reversal). TRUNCATE (the test
runner's flush) is not a row event and still works.

PostgreSQL only: SQLite (the embedded development default) flushes tables with DELETE,
which a trigger would refuse; there the services are the only writer, as everywhere."""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION payments_walletentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'payments_walletentry is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER payments_walletentry_append_only
    BEFORE UPDATE OR DELETE ON payments_walletentry
    FOR EACH ROW EXECUTE FUNCTION payments_walletentry_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS payments_walletentry_append_only ON payments_walletentry;
DROP FUNCTION IF EXISTS payments_walletentry_append_only();
"""


def forward(apps, schema_editor):
    # params=None: sent as is (with params, Django merges them client-side and psycopg
    # reads the ``%`` of RAISE's format as a placeholder).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
