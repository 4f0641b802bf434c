"""Give every existing stock row an opening ``receipt`` movement, so that on_hand equals
the sum of its movements from the start (the invariant of the stock ledger)."""

from django.db import migrations


def forwards(apps, schema_editor):
    StockLevel = apps.get_model("inventory", "StockLevel")
    StockMovement = apps.get_model("inventory", "StockMovement")
    from django.utils import timezone

    now = timezone.now()
    batch = []
    levels = StockLevel.objects.filter(on_hand__gt=0).exclude(pk__in=StockMovement.objects.values("stock_level_id"))
    for level in levels.order_by("pk").iterator(chunk_size=2000):
        batch.append(
            StockMovement(
                stock_level_id=level.pk,
                sku_id=level.sku_id,
                warehouse_id=level.warehouse_id,
                delta=level.on_hand,
                kind="receipt",
                on_hand_before=0,
                on_hand_after=level.on_hand,
                reason="Opening balance",
                reference="migration:0003",
                created_at=now,
            )
        )
        if len(batch) >= 2000:
            StockMovement.objects.bulk_create(batch)
            batch = []
    if batch:
        StockMovement.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_reservations_and_stock_ledger")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
