"""The revenue dashboards (issue 13): the `Dashboard` permission holder (no table) and who may open them.

Owner and Bookkeeper get `view_dashboards`; the dashboards only read, so that is all either needs (the owner acts on
the numbers, the bookkeeper reconciles them). Staff does not see revenue figures. Frozen table: roles_sync applies it.
"""

from django.db import migrations, models

from crm.roles import roles_sync

ROLES_QBO_0009 = {
    "Owner": ["quickbooks_integration.view_dashboards"],
    "Bookkeeper": ["quickbooks_integration.view_dashboards"],
}


def forwards(apps, schema_editor):
    roles_sync(apps=apps, table=ROLES_QBO_0009)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_roles"),
        ("quickbooks_integration", "0008_schedules_sync"),
    ]

    operations = [
        migrations.CreateModel(
            name="Dashboard",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "verbose_name": "revenue dashboard",
                "verbose_name_plural": "revenue dashboards",
                "db_table": "quickbooks_integration_dashboard_unused",
                "permissions": [("view_dashboards", "Can view the revenue dashboards")],
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
