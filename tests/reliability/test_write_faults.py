"""Fault matrix, write rows (RELIABILITY §3 rows 10, 11, 16): a stale SyncToken (5010) on a customer update, a
duplicate name (6240) on a customer create, and a batch of estimates where some items fail. Real services
(`customer_push`, `estimates`) against the emulator; the other side's edits are made in QBO while ours are pending.

Each docstring states the expected state afterwards; the assertions count QBO's entities, the CRM's links, the
failure rows and the review rows, so that nothing is lost, overwritten or made twice.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm import services as crm_services
from crm.models import Contact, Product, Quote
from crm.roles import STAFF
from quickbooks_integration.models import AuditEvent, ContactConflict, MatchCandidate, SyncFailure
from quickbooks_integration.qbo.client import qbo_query, qbo_read, qbo_update
from quickbooks_integration.services import estimates
from quickbooks_integration.services.customer_push import contact_push_create
from quickbooks_integration.services.customer_update import KIND_UPDATE, contact_push_update
from tests.crm.factories import ContactFactory, QuoteFactory, QuoteItemFactory, UserFactory

from .support import qbo_as_someone_else, when_seen

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(username="staff-writes", groups=[STAFF])


def a_contact(n: int, **fields) -> Contact:
    values = {
        "first_name": f"Perpetua{n}",
        "last_name": "Hollowell",
        "company_name": "",
        "phone": f"(781) 555-{n:04d}",
        "mobile_phone": "",
        "email": f"perpetua{n}.hollowell@example.org",
        "city": "Cohasset",
        **fields,
    }
    return ContactFactory(**values)


def customers_named(connection, name: str) -> list[dict]:
    return list(qbo_query(connection=connection, sql=f"SELECT * FROM Customer WHERE DisplayName = '{name}'"))


def customer_creates(server) -> list[dict]:
    return [r for r in server.control.requests("/customer", "POST") if r["path"].endswith("/customer")]


# ---------------------------------------------------------------------------------------------------- row 10


def test_a_5010_rereads_and_keeps_both_changes_or_opens_one_conflict(connected, emulator, clock, staff):
    """Row 10: QBO's copy of a customer changes (an edit in QuickBooks) after the CRM last read it, so the CRM's
    sparse update carries a stale SyncToken and QBO answers 5010.

    Expected afterwards: for a contact whose e-mail changed while QBO changed the phone, the customer was re-read
    and the e-mail re-applied on the new SyncToken: QBO holds both changes, the contact has QBO's SyncToken and no
    failure row; the CRM keeps its own phone, and QBO's differing one is an open conflict for the bookkeeper (the
    import's rule: a differing detail is never overwritten silently, either way). For a contact whose phone changed
    while QBO changed the phone to something else, QBO's phone is untouched (no blind overwrite), the contact's
    other change (e-mail) went through, and there is exactly one open conflict (phone: ours against QBO's) and one
    failure row (5010); pushing again sends nothing while it is open.
    """
    contacts = [a_contact(1), a_contact(2)]
    for contact in contacts:
        assert contact_push_create(connection=connected, contact=contact, actor=staff).status == "created"
        contact.refresh_from_db()
    ours, both = contacts
    for contact in contacts:  # the edit in QuickBooks, which the CRM's ledger has not seen
        qbo_update(
            connection=connected,
            entity="Customer",
            payload={
                "Id": contact.quickbooks_customer_id,
                "SyncToken": "0",
                "sparse": True,
                "PrimaryPhone": {"FreeFormNumber": "(781) 555-9999"},
            },
            request_id=f"qbo-edit-{contact.pk}",
        )
    Contact.objects.filter(pk=ours.pk).update(email="perpetua1@new.example.org")
    Contact.objects.filter(pk=both.pk).update(email="perpetua2@new.example.org", phone="(781) 555-2222")
    emulator.control.clear_requests()

    merged = contact_push_update(connection=connected, contact=ours, actor=staff)
    conflicted = contact_push_update(connection=connected, contact=both, actor=staff)

    assert merged.status == "updated", merged
    customer = qbo_read(connection=connected, entity="Customer", entity_id=ours.quickbooks_customer_id)
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "(781) 555-9999"  # QBO's change survived
    assert customer["PrimaryEmailAddr"]["Address"] == "perpetua1@new.example.org"  # and ours
    assert customer["SyncToken"] == "2"
    ours.refresh_from_db()
    assert ours.quickbooks_sync_token == "2" and ours.phone == "(781) 555-0001"

    assert conflicted.status == "failed"
    customer = qbo_read(connection=connected, entity="Customer", entity_id=both.quickbooks_customer_id)
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "(781) 555-9999"  # not overwritten
    assert customer["PrimaryEmailAddr"]["Address"] == "perpetua2@new.example.org"
    conflicts = {
        (c.contact_id, c.field): (c.crm_value, c.qbo_value)
        for c in ContactConflict.objects.filter(resolved_at__isnull=True)
    }
    assert conflicts == {
        (ours.pk, "phone"): ("(781) 555-0001", "(781) 555-9999"),
        (both.pk, "phone"): ("(781) 555-2222", "(781) 555-9999"),
    }
    (failure,) = SyncFailure.objects.filter(resolved_at__isnull=True)
    assert (failure.kind, failure.code, failure.object_id) == (KIND_UPDATE, "5010", str(both.pk))
    stale = [r for r in customer_creates(emulator) if r["status"] == 400]
    assert len(stale) == 2  # one 5010 each, each followed by one re-read and one update
    assert len(customer_creates(emulator)) == 4

    again = contact_push_update(connection=connected, contact=both, actor=staff)

    assert again.status == "unchanged" and "phone" in again.message
    assert len(customer_creates(emulator)) == 4
    assert ContactConflict.objects.filter(resolved_at__isnull=True).count() == 2
    assert SyncFailure.objects.filter(resolved_at__isnull=True).count() == 1


# ---------------------------------------------------------------------------------------------------- row 11


def test_a_6240_from_a_customer_made_meanwhile_becomes_a_review_row_not_a_duplicate(connected, emulator, clock, staff):
    """Row 11: while the CRM looks QBO up before creating a customer, the bookkeeper creates the same person in
    QuickBooks (same name, same phone); the CRM's create then gets 6240 Duplicate Name Exists.

    Expected afterwards: no customer made by the CRM, no silent renaming: QBO holds exactly one customer of that
    name (the bookkeeper's); the contact is not linked and has one pending match candidate for that customer (the
    bookkeeper's review row), with the reason recorded; the request is answered (a later push gets a new requestid)
    and no failure row is left open. Pushing again queues the same candidate and sends no create.
    """
    contact = a_contact(1)
    name = "Perpetua1 Hollowell"
    twin = {}

    def bookkeeper_creates_the_same_person() -> None:
        twin.update(
            qbo_as_someone_else(
                emulator,
                "customer",
                {
                    "DisplayName": name,
                    "GivenName": "Perpetua1",
                    "FamilyName": "Hollowell",
                    "PrimaryPhone": {"FreeFormNumber": "781-555-0001"},
                },
            )["Customer"]
        )

    emulator.control.clear_requests()
    # the lookup sends five queries (e-mail, name, phone, mobile, other phone): the twin appears after the fifth
    armed = when_seen(emulator, bookkeeper_creates_the_same_person, seen=5)

    outcome = contact_push_create(connection=connected, contact=contact, actor=staff)
    armed.wait()

    assert outcome.status == "queued", outcome
    assert [c["Id"] for c in customers_named(connected, name)] == [twin["Id"]]
    ours = [r for r in customer_creates(emulator) if r["status"] == 400]
    assert len(ours) == 1 and len(customer_creates(emulator)) == 2  # the twin's create, and our refused one
    contact.refresh_from_db()
    assert contact.quickbooks_customer_id is None
    (candidate,) = MatchCandidate.objects.all()
    assert (candidate.contact_id, candidate.quickbooks_customer_id, candidate.status) == (
        contact.pk,
        twin["Id"],
        MatchCandidate.Status.PENDING,
    )
    assert any(reason.get("rule") == "display_name_taken" for reason in candidate.reasons)
    assert AuditEvent.objects.filter(action="customer.push_queued", object_id=str(contact.pk)).count() == 1
    answered = AuditEvent.objects.filter(action="customer.push", object_id=str(contact.pk)).get()
    assert "6240" in answered.message or "Duplicate" in answered.message
    assert not SyncFailure.objects.filter(resolved_at__isnull=True).exists()
    emulator.control.clear_requests()

    again = contact_push_create(connection=connected, contact=contact, actor=staff)

    assert again.status == "queued"
    assert customer_creates(emulator) == []
    assert MatchCandidate.objects.count() == 1
    assert [c["Id"] for c in customers_named(connected, name)] == [twin["Id"]]


# ---------------------------------------------------------------------------------------------------- row 16

LINES = (("Design", "2", "75", False), ("Rocks", "3", "22.50", True))  # 150 + 67.50, 8 % tax on 67.50: 222.90


def _sandbox(connection) -> dict[str, str]:
    items = {row["Name"]: row["Id"] for row in qbo_query(connection=connection, sql="SELECT * FROM Item ORDERBY Id")}
    customer = next(
        iter(
            qbo_query(connection=connection, sql="SELECT * FROM Customer WHERE DisplayName = 'Amy\\'s Bird Sanctuary'")
        )
    )
    return {"customer": customer["Id"], **items}


def _quote(ids: dict[str, str], lines=LINES, **fields) -> Quote:
    contact = Contact.objects.filter(quickbooks_customer_id=ids["customer"]).first() or ContactFactory(
        quickbooks_customer_id=ids["customer"]
    )
    quote = QuoteFactory(contact=contact, tax_rate=Decimal("8"), **fields)
    for position, (item, qty, price, taxable) in enumerate(lines, 1):
        product, _ = Product.objects.get_or_create(
            name=item, defaults={"quickbooks_item_id": ids[item], "unit_price": Decimal(price), "taxable": taxable}
        )
        QuoteItemFactory(
            quote=quote,
            product=product,
            description=f"{item} work",
            quantity=Decimal(qty),
            unit_price=Decimal(price),
            taxable=taxable,
            position=position,
        )
    return crm_services.quote_recalculate(quote=quote)


def _item_active(connection, item_id: str, active: bool) -> None:
    row = qbo_read(connection=connection, entity="Item", entity_id=item_id)
    qbo_update(
        connection=connection,
        entity="Item",
        payload={"Id": item_id, "SyncToken": row["SyncToken"], "sparse": True, "Active": active},
        request_id=f"item-{item_id}-{row['SyncToken']}-{active}",
    )


def _estimates(connection) -> list[dict]:
    return list(qbo_query(connection=connection, sql="SELECT * FROM Estimate ORDERBY Id"))


def _marked(all_estimates: list[dict], quote: Quote) -> list[dict]:
    return [row for row in all_estimates if row.get("PrivateNote") == estimates.estimate_marker(quote)]


def test_a_partly_failing_batch_applies_the_rest_and_never_resends_them(connected, emulator, clock, staff):
    """Row 16: one batch call of 30 estimates, answered 200 with a Fault on two items: one uses an item made
    inactive in QuickBooks (610), one a DocNumber QBO already has (6140).

    Expected afterwards: 28 estimates in QBO, each quote linked to its own; one failure row per failed item with
    QBO's code; those two quotes unlinked. Pushing all 30 again sends nothing for the 28 (unchanged) and fails the
    two again without new rows (attempts counted on the same two). Once the item is active again and the number is
    fixed, the next push creates exactly those two: 30 estimates, one per quote, no failure row open.
    """
    ids = _sandbox(connected)
    good = [_quote(ids) for _ in range(28)]
    inactive = _quote(ids, lines=(("Pest Control", "1", "35", False),))
    duplicate = _quote(ids, quote_number="1002")  # a sandbox estimate already has DocNumber 1002
    quotes = [*good, inactive, duplicate]
    _item_active(connected, ids["Pest Control"], False)
    before = len(_estimates(connected))
    emulator.control.clear_requests()

    results = estimates.estimates_push(quotes=quotes, actor=staff)

    assert [r.outcome for r in results] == ["created"] * 28 + ["failed"] * 2
    assert [r["path"].rsplit("/", 1)[-1] for r in emulator.control.requests("/v3/company/")] == ["batch"]
    in_qbo = _estimates(connected)
    assert len(in_qbo) == before + 28
    assert all(len(_marked(in_qbo, q)) == 1 for q in good)
    assert Quote.objects.filter(pk__in=[q.pk for q in good], quickbooks_estimate_id__isnull=False).count() == 28
    failures = {f.object_id: f for f in SyncFailure.objects.filter(resolved_at__isnull=True)}
    assert {pk: failures[str(pk)].code for pk in (inactive.pk, duplicate.pk)} == {
        inactive.pk: "610",
        duplicate.pk: "6140",
    }
    assert len(failures) == 2
    assert not Quote.objects.filter(pk__in=[inactive.pk, duplicate.pk], quickbooks_estimate_id__isnull=False).exists()
    emulator.control.clear_requests()

    again = estimates.estimates_push(quotes=quotes, actor=staff)

    assert [r.outcome for r in again] == ["unchanged"] * 28 + ["failed"] * 2
    calls = [r["path"].rsplit("/", 1)[-1] for r in emulator.control.requests("/v3/company/")]
    assert calls == ["query", "batch"]  # the two retries look for their estimate first, then one batch of two
    assert len(_estimates(connected)) == before + 28
    reopened = SyncFailure.objects.filter(resolved_at__isnull=True)
    assert reopened.count() == 2 and {f.attempts for f in reopened} == {2}

    _item_active(connected, ids["Pest Control"], True)
    Quote.objects.filter(pk=duplicate.pk).update(quote_number="Q-RELIABILITY-1")

    fixed = estimates.estimates_push(quotes=quotes, actor=staff)

    assert [r.outcome for r in fixed] == ["unchanged"] * 28 + ["created"] * 2
    in_qbo = _estimates(connected)
    assert len(in_qbo) == before + 30
    assert all(len(_marked(in_qbo, q)) == 1 for q in quotes)
    assert len({Quote.objects.get(pk=q.pk).quickbooks_estimate_id for q in quotes}) == 30
    assert not SyncFailure.objects.filter(resolved_at__isnull=True).exists()
