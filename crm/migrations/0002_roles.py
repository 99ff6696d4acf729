"""Create the Bookkeeper, Staff and Owner groups with their permissions (DESIGN §3, RELIABILITY §E1).

The table below is a frozen copy of `crm.roles.ROLE_PERMISSIONS` as of this migration: a migration must keep
meaning the same thing on a fresh database even after the live table changes. Changing a role later means
editing `crm.roles` and adding a new data migration that calls `roles_sync` with the difference; the test
`tests/crm/test_roles.py` fails until the migrated groups equal the live table.
"""

from django.db import migrations

from crm.roles import roles_sync

ROLES_0002 = {
    "Bookkeeper": [
        "crm.add_invoice",
        "crm.add_invoiceitem",
        "crm.add_payment",
        "crm.add_paymentapplication",
        "crm.change_contact",
        "crm.change_invoice",
        "crm.change_invoiceitem",
        "crm.change_payment",
        "crm.change_paymentapplication",
        "crm.delete_invoiceitem",
        "crm.delete_paymentapplication",
        "crm.send_invoice",
        "crm.view_activity",
        "crm.view_campaign",
        "crm.view_campaignrecipient",
        "crm.view_contact",
        "crm.view_financials",
        "crm.view_invoice",
        "crm.view_invoiceitem",
        "crm.view_payment",
        "crm.view_paymentapplication",
        "crm.view_product",
        "crm.view_quote",
        "crm.view_quoteitem",
    ],
    "Owner": [
        "crm.view_activity",
        "crm.view_campaign",
        "crm.view_campaignrecipient",
        "crm.view_contact",
        "crm.view_financials",
        "crm.view_invoice",
        "crm.view_invoiceitem",
        "crm.view_payment",
        "crm.view_paymentapplication",
        "crm.view_product",
        "crm.view_quote",
        "crm.view_quoteitem",
    ],
    "Staff": [
        "crm.add_activity",
        "crm.add_campaign",
        "crm.add_campaignrecipient",
        "crm.add_contact",
        "crm.add_quote",
        "crm.add_quoteitem",
        "crm.change_activity",
        "crm.change_campaign",
        "crm.change_campaignrecipient",
        "crm.change_contact",
        "crm.change_quote",
        "crm.change_quoteitem",
        "crm.delete_quoteitem",
        "crm.push_estimate",
        "crm.send_invoice",
        "crm.view_activity",
        "crm.view_campaign",
        "crm.view_campaignrecipient",
        "crm.view_contact",
        "crm.view_invoice",
        "crm.view_invoiceitem",
        "crm.view_payment",
        "crm.view_paymentapplication",
        "crm.view_product",
        "crm.view_quote",
        "crm.view_quoteitem",
    ],
}


def forwards(apps, schema_editor):
    roles_sync(apps=apps, table=ROLES_0002)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
