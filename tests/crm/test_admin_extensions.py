"""The CRM admin's extension point and action runner: what another app registers shows up (actions, columns,
read-only fields, history), and every per-object action checks permission, reports once and audits each object."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.urls import reverse

from crm.admin import extensions
from crm.admin.actions import object_action, objects_run
from crm.errors import DocumentStateError
from crm.models import Contact, Invoice, InvoiceStatus, Quote, QuoteStatus
from crm.services import payment_apply

from .factories import ContactFactory, InvoiceFactory, PaymentFactory, QuoteFactory

pytestmark = pytest.mark.django_db


@object_action(description="Flag selected quotes", permissions=["push_estimate"], done="flagged")
def flag_quote(request, quote: Quote) -> str:
    if quote.status == QuoteStatus.DECLINED:
        raise DocumentStateError(f"quote {quote} is declined")
    Quote.objects.filter(pk=quote.pk).update(notes="flagged")
    return "Flagged by the test app."


@admin.display(description="Shout")
def shout(obj) -> str:
    return f"{obj}!".upper()


def the_test_history(*, obj):
    return [extensions.HistoryEntry(at=obj.created_at, actor="robot", action="probed", source="Test app")]


@pytest.fixture
def registered():
    """Extensions as another app registers them, removed again afterwards."""
    kinds = {
        "actions": [flag_quote],
        "list_display": [shout],
        "readonly_fields": [shout],
        "history": [the_test_history],
    }
    extensions.extend(Quote, **kinds)
    extensions.extend(Contact, readonly_fields=[shout])
    yield
    extensions.retract(Quote, **kinds)
    extensions.retract(Contact, readonly_fields=[shout])


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_registered_action_is_offered_only_with_its_permission(registered, staff_client, owner_client):
    url = reverse("admin:crm_quote_changelist")
    QuoteFactory()
    staff_actions = [name for name, _ in staff_client.get(url).context["action_form"].fields["action"].choices]
    owner_page = owner_client.get(url)
    assert "flag_quote" in staff_actions  # Staff holds crm.push_estimate
    assert owner_page.status_code == 200 and "flag_quote" not in owner_page.content.decode()


def test_registered_action_runs_per_object_with_one_message_and_one_audit_row_each(registered, staff_client, staff):
    good = QuoteFactory()
    bad = QuoteFactory(status=QuoteStatus.DECLINED)
    response = staff_client.post(
        reverse("admin:crm_quote_changelist"),
        {"action": "flag_quote", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )
    assert _messages(response) == [f"1 quote flagged. 1 failed: {bad}: quote {bad} is declined."]
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.notes, bad.notes) == ("flagged", "")
    logs = {entry.object_id: entry.change_message for entry in LogEntry.objects.filter(user=staff)}
    assert logs == {
        str(good.pk): "Flagged by the test app.",
        str(bad.pk): f"Failed: Flag selected quotes: quote {bad} is declined",
    }


def test_runner_rechecks_permission_when_called_directly(rf, owner):
    """A run that reached the action without the permission changes nothing and leaves the refusal on record."""
    quote = QuoteFactory()
    request = rf.post("/")
    request.user = owner
    request._messages = CookieStorage(request)
    done, failures = objects_run(
        modeladmin=admin.site._registry[Quote],
        request=request,
        objects=[quote],
        operation=flag_quote.__wrapped__,
        description="Flag selected quotes",
        permissions=["push_estimate"],
        done="flagged",
    )
    quote.refresh_from_db()
    assert (done, failures, quote.notes) == (0, [], "")
    assert [str(message) for message in request._messages] == ["You may not flag selected quotes."]
    assert LogEntry.objects.get().change_message == "Refused: Flag selected quotes (no permission)."


def test_registered_column_and_read_only_field_are_shown(registered, staff_client):
    quote = QuoteFactory()
    contact = ContactFactory(first_name="Ada", last_name="Lovelace")
    changelist = staff_client.get(reverse("admin:crm_quote_changelist")).content.decode()
    assert "Shout" in changelist and f"{quote}!".upper() in changelist
    change = staff_client.get(reverse("admin:crm_quote_change", args=[quote.pk])).content.decode()
    assert f"{quote}!".upper() in change
    contact_page = staff_client.get(reverse("admin:crm_contact_change", args=[contact.pk])).content.decode()
    assert "Linked systems" in contact_page and "ADA LOVELACE!" in contact_page


def test_history_page_merges_registered_providers(registered, bookkeeper_client):
    quote = QuoteFactory()
    page = bookkeeper_client.get(reverse("admin:crm_quote_history", args=[quote.pk])).content.decode()
    assert "Test app" in page and "probed" in page and "robot" in page


@pytest.mark.parametrize(
    ("action", "make", "expected"),
    [
        ("convert_to_crm_invoice", lambda: QuoteFactory(items=[("1", "10")]), "1 quote converted to draft invoices."),
        ("mark_sent", lambda: InvoiceFactory(items=[("1", "10")]), "1 invoice marked sent."),
        ("void", lambda: InvoiceFactory(items=[("1", "10")]), "1 invoice voided."),
    ],
)
def test_the_crms_own_actions_use_the_runner(bookkeeper_client, bookkeeper, action, make, expected):
    obj = make()
    changelist = reverse(f"admin:crm_{obj._meta.model_name}_changelist")
    response = bookkeeper_client.post(changelist, {"action": action, "_selected_action": [obj.pk]}, follow=True)
    assert _messages(response) == [expected]
    assert LogEntry.objects.filter(user=bookkeeper, object_id=str(obj.pk)).count() == 1


def test_void_of_a_paid_invoice_is_one_listed_error(bookkeeper_client):
    invoices = [InvoiceFactory(items=[("1", "10")], tax_rate=Decimal("0")) for _ in range(2)]
    payment_apply(
        payment=PaymentFactory(contact=invoices[1].contact, amount=Decimal("10")),
        invoice=invoices[1],
        amount=Decimal("10"),
    )
    response = bookkeeper_client.post(
        reverse("admin:crm_invoice_changelist"),
        {"action": "void", "_selected_action": [invoice.pk for invoice in invoices]},
        follow=True,
    )
    assert _messages(response) == [
        f"1 invoice voided. 1 failed: {invoices[1]}: invoice {invoices[1]} has payments applied; "
        "unapply them before voiding."
    ]
    assert [Invoice.objects.get(pk=i.pk).status for i in invoices] == [InvoiceStatus.VOID, InvoiceStatus.SENT]


# The QuickBooks integration's registrations (quickbooks_integration/admin/crm_extensions.py).


@pytest.mark.parametrize(
    ("make", "linked"),
    [
        (lambda: ContactFactory(quickbooks_customer_id="58"), "58"),
        (lambda: QuoteFactory(quickbooks_estimate_id="1043"), "1043"),
        (lambda: InvoiceFactory(quickbooks_invoice_id="2071"), "2071"),
    ],
)
def test_quickbooks_column_on_contact_quote_and_invoice_lists(bookkeeper_client, make, linked):
    obj = make()
    unlinked = type(obj)._default_manager.exclude(pk=obj.pk).first() or make_unlinked(obj)
    response = bookkeeper_client.get(reverse(f"admin:crm_{obj._meta.model_name}_changelist"))
    rows = {str(row.pk): row for row in response.context["cl"].result_list}
    assert str(obj.pk) in rows and str(unlinked.pk) in rows
    page = response.content.decode()
    assert 'class="sortable column-quickbooks' in page and ">QuickBooks</a>" in page
    assert f'<td class="field-quickbooks">{linked}</td>' in page
    assert '<td class="field-quickbooks">—</td>' in page


def make_unlinked(obj):
    factory = {Contact: ContactFactory, Quote: QuoteFactory, Invoice: InvoiceFactory}[type(obj)]
    return factory()


def test_history_shows_crm_edits_and_quickbooks_operations(bookkeeper_client, bookkeeper):
    from quickbooks_integration.models import AuditEvent

    quote = QuoteFactory(items=[("1", "10")], notes="")
    bookkeeper_client.post(
        reverse("admin:crm_quote_changelist"), {"action": "convert_to_crm_invoice", "_selected_action": [quote.pk]}
    )
    AuditEvent.objects.create(
        actor=bookkeeper,
        actor_label="bookkeeper",
        action="estimate_push",
        object_type="crm.Quote",
        object_id=str(quote.pk),
        outcome=AuditEvent.Outcome.FAILURE,
        message="QBO 6000: business validation error",
    )
    AuditEvent.objects.create(action="estimate_push", object_type="crm.Invoice", object_id=str(quote.pk))  # not it
    response = bookkeeper_client.get(reverse("admin:crm_quote_history", args=[quote.pk]))
    entries = [(e.source, e.action, e.outcome, e.message) for e in response.context["action_list"]]
    invoice = Invoice.objects.get(quote=quote)
    assert entries == [
        ("CRM", "Changed", "", f"Converted to invoice {invoice}."),
        ("QuickBooks", "estimate_push", "Failure", "QBO 6000: business validation error"),
    ]
    assert "QBO 6000: business validation error" in response.content.decode()
