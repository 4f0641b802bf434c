"""Seed the two launch markets and an initial USD/KRW rate (ops update them in the admin)."""

from django.db import migrations

from apps.markets.seed import INITIAL_FX, ensure_launch_markets


def seed(apps, schema_editor):
    ensure_launch_markets(apps.get_model("markets", "Market"), apps.get_model("markets", "FxRate"))


def unseed(apps, schema_editor):
    apps.get_model("markets", "FxRate").objects.filter(source=INITIAL_FX["source"]).delete()


class Migration(migrations.Migration):
    dependencies = [("markets", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
