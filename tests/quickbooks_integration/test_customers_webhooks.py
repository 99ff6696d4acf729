"""Customer webhooks reach contacts: a change enriches the linked contact, a deactivation unlinks it (history kept),
and a customer nobody is linked to queues the customers import, which matches it. Real HTTP: the changes are made
in the emulator through our client, the signed deliveries go through the real view."""

from __future__ import annotations

import uuid

import pytest

from crm.models import Contact
from quickbooks_integration.models import AuditEvent, SyncRun, WebhookEvent
from quickbooks_integration.qbo.client import qbo_create, qbo_read, qbo_update
from quickbooks_integration.services.customers import customers_import_run

from .test_webhooks import change, deliver, legacy

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(connected, settings):
    settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = "test-verifier-token"
    run = customers_import_run(connection_id=connected.pk, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED
    return connected


def _sparse(connection, customer_id: str, **fields) -> dict:
    current = qbo_read(connection=connection, entity="Customer", entity_id=customer_id)
    payload = {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
    return qbo_update(connection=connection, entity="Customer", payload=payload, request_id=str(uuid.uuid4()))


def _webhook(client, connection, customer_id: str, operation: str, capture) -> None:
    with capture(execute=True):  # the commit queues processing; the tests run tasks inline
        response = deliver(client, legacy(connection.realm_id, change("Customer", customer_id, operation)))
    assert response.status_code == 200


def test_a_change_in_quickbooks_enriches_the_linked_contact(client, imported, django_capture_on_commit_callbacks):
    contact = Contact.objects.get(quickbooks_customer_id="1")
    assert contact.tax_exempt is False
    updated = _sparse(imported, "1", Taxable=False, TaxExemptionReasonId="5")

    _webhook(client, imported, "1", "Update", django_capture_on_commit_callbacks)

    contact.refresh_from_db()
    assert contact.tax_exempt is True, "QBO owns the tax exemption"
    assert contact.quickbooks_sync_token == updated["SyncToken"]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


def test_a_customer_deactivated_in_quickbooks_is_unlinked_with_its_history(
    client, imported, django_capture_on_commit_callbacks
):
    settled = imported.ledger.filter(entity_type="Customer", payload__Balance=0, payload__Job=False)
    customer_id = settled.values_list("entity_id", flat=True).first()  # QBO refuses to deactivate one that owes
    contact = Contact.objects.get(quickbooks_customer_id=customer_id)
    _sparse(imported, customer_id, Active=False)

    _webhook(client, imported, customer_id, "Delete", django_capture_on_commit_callbacks)

    contact.refresh_from_db()
    assert contact.quickbooks_customer_id is None
    event = AuditEvent.objects.get(action="customer.unlink", object_id=str(contact.pk))
    assert event.before == {"quickbooks_customer_id": customer_id} and event.message == "deactivated in QuickBooks"


def test_a_new_customer_queues_the_import_which_matches_it(client, imported, django_capture_on_commit_callbacks):
    created = qbo_create(
        connection=imported,
        entity="Customer",
        payload={
            "GivenName": "Rosa",
            "FamilyName": "Delgado",
            "DisplayName": "Rosa Delgado",
            "PrimaryPhone": {"FreeFormNumber": "(617) 555-0199"},
        },
        request_id=str(uuid.uuid4()),
    )
    runs_before = SyncRun.objects.filter(kind="customers").count()

    _webhook(client, imported, created["Id"], "Create", django_capture_on_commit_callbacks)

    assert SyncRun.objects.filter(kind="customers").count() == runs_before + 1
    contact = Contact.objects.get(quickbooks_customer_id=created["Id"])
    assert (contact.first_name, contact.last_name, contact.phone_e164) == ("Rosa", "Delgado", "+16175550199")
