"""Give the CRM's groups the QuickBooks connection permissions (frozen table; crm.roles.roles_sync applies it).

Bookkeeper: sees the connection page and sync runs and may press "Test connection" (`manage_connection`);
connecting and disconnecting stay superuser-only (views.py). Owner: sees the connection page and sync runs.
"""

from django.db import migrations

from crm.roles import roles_sync

ROLES_QBO_0002 = {
    "Bookkeeper": [
        "quickbooks_integration.view_quickbooksauth",
        "quickbooks_integration.manage_connection",
        "quickbooks_integration.view_syncrun",
    ],
    "Owner": [
        "quickbooks_integration.view_quickbooksauth",
        "quickbooks_integration.view_syncrun",
    ],
}


def forwards(apps, schema_editor):
    roles_sync(apps=apps, table=ROLES_QBO_0002)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_roles"),
        ("quickbooks_integration", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
