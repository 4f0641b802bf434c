"""Create the role groups. Their permission sets are applied by apps.accounts.roles
(post_migrate and ``manage.py sync_roles``), from every app's ``role_grants``."""

from django.db import migrations

ROLES = ["member", "cs_agent", "inventory_manager", "marketing_manager", "ops_admin", "data_platform"]


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_profile_pii_clients_audit_consent"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
