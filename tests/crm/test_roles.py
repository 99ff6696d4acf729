"""The roles migration: a snapshot of each group's permissions (any change must be deliberate, RELIABILITY §E1)."""

import pytest
from django.contrib.auth.models import Group

from crm.roles import BOOKKEEPER, OWNER, ROLE_PERMISSIONS, STAFF, roles_sync

pytestmark = pytest.mark.django_db

SNAPSHOT = {
    BOOKKEEPER: {
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
    },
    STAFF: {
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
        "crm.merge_contact",
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
    },
    OWNER: {
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
    },
}


def _crm_codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    perms = group.permissions.select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}" for p in perms if p.content_type.app_label == "crm"}


@pytest.mark.parametrize("group_name", [BOOKKEEPER, STAFF, OWNER])
def test_migrated_groups_match_snapshot(group_name):
    assert _crm_codenames(group_name) == SNAPSHOT[group_name]


def test_live_table_matches_snapshot():
    """Editing `crm.roles.ROLE_PERMISSIONS` without a data migration (and this snapshot) fails here."""
    assert {name: set(perms) for name, perms in ROLE_PERMISSIONS.items()} == SNAPSHOT


@pytest.mark.parametrize("group_name", [BOOKKEEPER, STAFF, OWNER])
def test_nobody_deletes_money_records(group_name):
    codenames = _crm_codenames(group_name)
    assert not codenames & {"crm.delete_invoice", "crm.delete_payment", "crm.delete_contact", "crm.delete_quote"}


def test_roles_sync_is_idempotent_and_additive():
    roles_sync()
    roles_sync(table={STAFF: ["crm.view_financials"]})
    assert _crm_codenames(STAFF) == SNAPSHOT[STAFF] | {"crm.view_financials"}
    assert _crm_codenames(BOOKKEEPER) == SNAPSHOT[BOOKKEEPER]


def test_roles_sync_refuses_unknown_permission():
    with pytest.raises(LookupError, match="crm.approve_everything"):
        roles_sync(table={STAFF: ["crm.approve_everything"]})
