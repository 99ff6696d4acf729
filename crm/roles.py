"""Roles as data: which Django group holds which permissions (DESIGN §3, RELIABILITY §E1).

`ROLE_PERMISSIONS` is the CRM's table; `roles_sync` applies a table to the groups and is called from data
migrations (with the migration's `apps`) and may be called again at any time: it is idempotent and additive, so
`quickbooks_integration` extends the same groups from its own data migration with its own table, e.g.
`roles_sync(apps=apps, table={"Bookkeeper": ["quickbooks_integration.approve_match", ...]})`, without repeating
or undoing this one. Removing a permission from a group is a deliberate data migration of its own.

Superusers bypass groups entirely (connect/disconnect, settings, deletes). Nobody but superusers holds a delete
permission on Invoice or Payment: money is voided, not deleted (RELIABILITY §E4).
"""

from collections.abc import Iterable, Mapping

BOOKKEEPER = "Bookkeeper"
STAFF = "Staff"
OWNER = "Owner"

CRM_MODELS = (
    "contact",
    "activity",
    "campaign",
    "campaignrecipient",
    "product",
    "quote",
    "quoteitem",
    "invoice",
    "invoiceitem",
    "payment",
    "paymentapplication",
)


def _perms(actions: Iterable[str], models: Iterable[str], app_label: str = "crm") -> list[str]:
    return [f"{app_label}.{action}_{model}" for model in models for action in actions]


_VIEW_ALL_CRM = _perms(["view"], CRM_MODELS)

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Reads everything; edits contacts (including their financial fields), invoices and payments; never deletes
    # an invoice or a payment (void instead). Invoice lines and payment applications (unapplying) may be removed.
    BOOKKEEPER: sorted(
        {
            *_VIEW_ALL_CRM,
            "crm.change_contact",
            "crm.view_financials",
            *_perms(["add", "change"], ["invoice", "payment"]),
            # Lines and applications may be removed while editing; the invoice or payment itself never.
            *_perms(["add", "change", "delete"], ["invoiceitem", "paymentapplication"]),
            "crm.send_invoice",
        }
    ),
    # Works with customers: contacts, activities, campaigns and quotes; pushes quotes to QuickBooks and sends
    # invoices; reads products, invoices and payments; sees financial fields but cannot edit them.
    STAFF: sorted(
        {
            *_perms(["add", "change", "view"], ["contact", "activity", "campaign", "campaignrecipient", "quote"]),
            *_perms(["add", "change", "delete", "view"], ["quoteitem"]),
            *_perms(["view"], ["product", "invoice", "invoiceitem", "payment", "paymentapplication"]),
            "crm.push_estimate",
            "crm.send_invoice",
            "crm.merge_contact",
        }
    ),
    # The owner reads everything (and the dashboards, added by quickbooks_integration).
    OWNER: sorted({*_VIEW_ALL_CRM, "crm.view_financials"}),
}


def roles_sync(*, apps=None, table: Mapping[str, Iterable[str]] | None = None) -> None:
    """Create the groups in `table` (default: `ROLE_PERMISSIONS`) and add each listed permission to its group.

    Inside a migration pass its `apps`: on a fresh database Permission rows are only created by the post_migrate
    signal, after every migration, so this creates them (and content types) first for the apps the table names.
    An unknown "app_label.codename" raises LookupError: a typo in a role table must fail the migration loudly.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    apps = apps or global_apps
    table = ROLE_PERMISSIONS if table is None else table
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    app_labels = {"auth", "contenttypes"} | {perm.split(".", 1)[0] for perms in table.values() for perm in perms}
    for label in sorted(app_labels):
        app_config = apps.get_app_config(label)
        # Historical app configs carry no models module, and create_permissions skips those; it only needs truth.
        had_module = getattr(app_config, "models_module", None)
        app_config.models_module = had_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = had_module

    for group_name, perms in table.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            try:
                wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
            except Permission.DoesNotExist as exc:
                raise LookupError(f"role {group_name!r}: no permission {perm!r}") from exc
        group.permissions.add(*wanted)
