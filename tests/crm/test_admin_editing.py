"""Editing existing quotes, invoices and payments through the admin: totals, balances, contact summaries and the
guards against over-payment hold; change pages and phone searches behave as on the changelists."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import services
from crm.models import Invoice, InvoiceStatus, PaymentStatus

from .factories import ActivityFactory, ContactFactory, InvoiceFactory, PaymentFactory, ProductFactory, QuoteFactory

pytestmark = pytest.mark.django_db


def _form_values(form) -> dict:
    data = {}
    for name in form.fields:
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif value is None:
            data[key] = ""
        elif isinstance(value, (list, tuple)):
            data[key] = [str(v) for v in value]
        else:
            data[key] = str(value)
    return data


def change_form_data(response) -> dict:
    """What the browser would post back unchanged: the main form and every inline, with management forms."""
    data = _form_values(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({management.add_prefix(key): str(management[key].value() or 0) for key in management.fields})
        for form in formset.initial_forms:
            data.update(_form_values(form))
    return data


def _paid(contact, total_lines=(("1", "100"),), paid="100", tax_rate="0", payment_amount=None):
    """An invoice for `contact` with one payment (of `payment_amount`, default `paid`) applying `paid` to it."""
    invoice = InvoiceFactory(contact=contact, items=list(total_lines), tax_rate=Decimal(tax_rate))
    payment = PaymentFactory(contact=contact, amount=Decimal(payment_amount or paid))
    services.payment_apply(payment=payment, invoice=invoice, amount=Decimal(paid))
    return invoice, payment


def test_editing_an_invoice_line_recomputes_totals_and_balance(bookkeeper_client):
    contact = ContactFactory()
    invoice, _ = _paid(contact, total_lines=(("3", "33.335"),), paid="50")
    url = reverse("admin:crm_invoice_change", args=[invoice.pk])
    data = change_form_data(bookkeeper_client.get(url))
    data["items-0-quantity"] = "4"
    response = bookkeeper_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    invoice.refresh_from_db()
    assert (invoice.subtotal, invoice.total_amount, invoice.amount_paid, invoice.balance_due) == (
        Decimal("133.34"),
        Decimal("133.34"),
        Decimal("50.00"),
        Decimal("83.34"),
    )


def test_invoice_lines_cannot_drop_below_what_was_paid(bookkeeper_client):
    contact = ContactFactory()
    invoice, _ = _paid(contact, paid="100")
    url = reverse("admin:crm_invoice_change", args=[invoice.pk])
    data = change_form_data(bookkeeper_client.get(url))
    data["items-0-unit_price"] = "40"
    response = bookkeeper_client.post(url, data)
    invoice.refresh_from_db()
    assert (invoice.total_amount, invoice.balance_due) == (Decimal("100.00"), Decimal("0.00"))
    assert response.status_code == 200


def test_invoice_with_payments_cannot_move_to_another_contact(bookkeeper_client):
    contact = ContactFactory()
    invoice, _ = _paid(contact, paid="60", payment_amount="100")
    url = reverse("admin:crm_invoice_change", args=[invoice.pk])
    data = change_form_data(bookkeeper_client.get(url))
    data["contact"] = str(ContactFactory().pk)
    response = bookkeeper_client.post(url, data)
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.contact == contact


def test_payment_contact_change_revalidates_applications(bookkeeper_client):
    contact = ContactFactory()
    invoice, payment = _paid(contact, paid="60", payment_amount="100")
    url = reverse("admin:crm_payment_change", args=[payment.pk])
    data = change_form_data(bookkeeper_client.get(url))
    data["contact"] = str(ContactFactory().pk)
    response = bookkeeper_client.post(url, data)
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.contact == contact


def test_payment_amount_cut_below_applied_is_refused(bookkeeper_client):
    contact = ContactFactory()
    invoice, payment = _paid(contact, paid="60", payment_amount="100")
    url = reverse("admin:crm_payment_change", args=[payment.pk])
    data = change_form_data(bookkeeper_client.get(url))
    data["amount"] = "10"
    response = bookkeeper_client.post(url, data)
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.amount == Decimal("100.00")


def test_payment_application_edit_updates_invoice(bookkeeper_client):
    contact = ContactFactory()
    invoice, payment = _paid(contact, paid="60", payment_amount="100")
    url = reverse("admin:crm_payment_change", args=[payment.pk])
    data = change_form_data(bookkeeper_client.get(url))
    data["applications-0-amount"] = "100"
    response = bookkeeper_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.payment_status, invoice.paid_date) == (
        Decimal("100.00"),
        Decimal("0.00"),
        PaymentStatus.PAID,
        payment.payment_date,
    )
    data["applications-0-DELETE"] = "on"
    response = bookkeeper_client.post(url, data)
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.balance_due == Decimal("100.00")


def test_contact_summary_follows_admin_payment(bookkeeper_client):
    contact = ContactFactory()
    invoice, payment = _paid(contact, paid="60", payment_amount="100")
    url = reverse("admin:crm_payment_change", args=[payment.pk])
    data = change_form_data(bookkeeper_client.get(url))
    data["applications-0-amount"] = "100"
    bookkeeper_client.post(url, data)
    contact.refresh_from_db()
    assert (contact.total_sales, contact.outstanding_balance) == (Decimal("100.00"), Decimal("0.00"))


def test_contact_phone_search_keeps_the_filter(staff_client):
    ContactFactory(phone="(617) 555-0134", source="referral")
    web = ContactFactory(phone="617.555.0134", source="web_form")
    response = staff_client.get(
        reverse("admin:crm_contact_changelist"), {"q": "+1 617-555-0134", "source__exact": "web_form"}
    )
    assert list(response.context["cl"].result_list) == [web]


def test_contact_partial_phone_search(staff_client):
    c = ContactFactory(phone="617.555.0134")
    response = staff_client.get(reverse("admin:crm_contact_changelist"), {"q": "555-0134"})
    assert list(response.context["cl"].result_list) == [c]


def test_activity_search_any_phone_format(staff_client):

    a = ActivityFactory(phone_number="617.555.0134")
    response = staff_client.get(reverse("admin:crm_activity_changelist"), {"q": "(617) 555-0134"})
    assert list(response.context["cl"].result_list) == [a]


@pytest.mark.parametrize("role", ["staff", "bookkeeper", "superuser"])
@pytest.mark.parametrize("kind", ["invoice", "quote", "payment"])
def test_change_page_query_count_constant(request, role, kind):
    client = request.getfixturevalue(f"{role}_client")
    counts = []
    for n in (1, 6):
        contact = ContactFactory()
        if kind == "invoice":
            obj = InvoiceFactory(contact=contact, items=[("1", "10")] * n)
            obj.items.update(description="")
        elif kind == "quote":
            obj = QuoteFactory(contact=contact, items=[("1", "10")] * n)
            obj.items.update(description="")
        else:
            obj = PaymentFactory(contact=contact, amount=Decimal("1000"))
            for _ in range(n):
                inv = InvoiceFactory(contact=contact, items=[("1", "10")])
                services.payment_apply(payment=obj, invoice=inv, amount=Decimal("1"))
        url = reverse(f"admin:crm_{kind}_change", args=[obj.pk])
        client.get(url)  # warm the per-process caches (content types, permissions)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts.append(len(ctx))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("change", [{"tax_rate": "0"}, {"items-0-DELETE": "on"}, {"items-0-taxable": None}])
def test_paid_invoice_cannot_lose_its_lines_or_tax(bookkeeper_client, change):
    contact = ContactFactory()
    invoice = InvoiceFactory(contact=contact, items=[("1", "100")], tax_rate=Decimal("6.25"))
    invoice.items.update(taxable=True)
    services.invoice_recalculate(invoice=invoice)
    payment = PaymentFactory(contact=contact, amount=Decimal("106.25"))
    services.payment_apply(payment=payment, invoice=invoice, amount=Decimal("106.25"))
    url = reverse("admin:crm_invoice_change", args=[invoice.pk])
    data = change_form_data(bookkeeper_client.get(url))
    assert bookkeeper_client.post(url, data).status_code == 302  # saving it unchanged is fine
    for key, value in change.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    response = bookkeeper_client.post(url, data)
    assert response.status_code == 200
    assert "less than the 106.25 already paid" in response.content.decode()
    invoice.refresh_from_db()
    assert (invoice.total_amount, invoice.balance_due, invoice.tax_rate) == (
        Decimal("106.25"),
        Decimal("0.00"),
        Decimal("6.25"),
    )


def test_superuser_deleting_a_payment_reopens_the_invoice(superuser_client):
    contact = ContactFactory()
    invoice, payment = _paid(contact)
    url = reverse("admin:crm_payment_delete", args=[payment.pk])
    assert superuser_client.post(url, {"post": "yes"}).status_code == 302
    invoice.refresh_from_db()
    contact.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.status, invoice.payment_status) == (
        Decimal("0.00"),
        Decimal("100.00"),
        InvoiceStatus.SENT,
        PaymentStatus.UNPAID,
    )
    assert contact.outstanding_balance == Decimal("100.00")


def test_moving_an_unpaid_invoice_updates_both_contacts(bookkeeper_client):
    old, new = ContactFactory(), ContactFactory()
    invoice = InvoiceFactory(contact=old, items=[("1", "100")], tax_rate=Decimal("0"))
    url = reverse("admin:crm_invoice_change", args=[invoice.pk])
    data = {**change_form_data(bookkeeper_client.get(url)), "contact": str(new.pk)}
    assert bookkeeper_client.post(url, data).status_code == 302
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.outstanding_balance, new.outstanding_balance) == (Decimal("0.00"), Decimal("100.00"))


def test_linked_contact_keeps_quickbooks_figures():
    contact = ContactFactory(quickbooks_customer_id="58", outstanding_balance=Decimal("12.34"))
    _paid(contact, paid="40")
    contact.refresh_from_db()
    assert contact.outstanding_balance == Decimal("12.34")


def test_same_invoice_twice_in_one_payment_is_refused(bookkeeper_client):
    contact = ContactFactory()
    invoice = InvoiceFactory(contact=contact, items=[("1", "100")], tax_rate=Decimal("0"))
    add_url = reverse("admin:crm_payment_add")
    page = bookkeeper_client.get(add_url)
    prefix = page.context["inline_admin_formsets"][0].formset.prefix
    data = {
        "contact": contact.pk,
        "amount": "100",
        "payment_date": "2025-06-01",
        "method": "check",
        "reference": "",
        "currency": "USD",
        "notes": "",
        f"{prefix}-TOTAL_FORMS": "2",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-0-invoice": invoice.pk,
        f"{prefix}-0-amount": "30",
        f"{prefix}-1-invoice": invoice.pk,
        f"{prefix}-1-amount": "30",
    }
    response = bookkeeper_client.post(add_url, data)
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("0.00")


def test_staff_edits_a_quote_line_and_totals_follow(staff_client):
    quote = QuoteFactory(items=[("1", "100")], tax_rate=Decimal("0"))
    url = reverse("admin:crm_quote_change", args=[quote.pk])
    data = {**change_form_data(staff_client.get(url)), "items-0-quantity": "2.5"}
    assert staff_client.post(url, data).status_code == 302
    quote.refresh_from_db()
    assert quote.total_amount == Decimal("250.00")


def test_preloaded_autocomplete_renders_the_current_choice(bookkeeper_client):
    contact = ContactFactory()
    invoice, payment = _paid(contact, paid="60")
    product = ProductFactory()
    invoice.items.update(product=product)
    page = bookkeeper_client.get(reverse("admin:crm_payment_change", args=[payment.pk])).content.decode()
    assert f'<option value="{invoice.pk}" selected>{invoice}</option>' in page
    page = bookkeeper_client.get(reverse("admin:crm_invoice_change", args=[invoice.pk])).content.decode()
    assert f'<option value="{product.pk}" selected>{product}</option>' in page


@pytest.mark.parametrize("kind", ["quote", "invoice", "payment"])
def test_documents_are_found_by_the_contact_phone_in_any_format(bookkeeper_client, kind):
    contact = ContactFactory(phone="617.555.0134")
    other = ContactFactory(phone="781-555-0100")
    maker = {
        "quote": lambda c: QuoteFactory(contact=c),
        "invoice": lambda c: InvoiceFactory(contact=c, items=[("1", "10")]),
        "payment": lambda c: PaymentFactory(contact=c),
    }[kind]
    mine, _ = maker(contact), maker(other)
    response = bookkeeper_client.get(reverse(f"admin:crm_{kind}_changelist"), {"q": "(617) 555-0134"})
    assert list(response.context["cl"].result_list) == [mine]


@pytest.mark.parametrize("amount", ["-50.00", "0"])
def test_payment_amount_must_be_positive(bookkeeper_client, amount):
    add_url = reverse("admin:crm_payment_add")
    prefix = bookkeeper_client.get(add_url).context["inline_admin_formsets"][0].formset.prefix
    data = {
        "contact": ContactFactory().pk,
        "amount": amount,
        "payment_date": "2025-06-01",
        "method": "check",
        "currency": "USD",
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
    }
    response = bookkeeper_client.post(add_url, data)
    assert response.status_code == 200
    assert "amount" in response.context["adminform"].form.errors


def test_invoice_goes_overdue_with_time_in_the_changelist(bookkeeper_client):
    """The stored status is as of the last save; the bookkeeper's list shows and filters what it is today."""
    contact = ContactFactory()
    today = timezone.localdate()
    long_due = InvoiceFactory(contact=contact, items=[("1", "100")], issue_date=today - datetime.timedelta(days=60))
    Invoice.objects.filter(pk=long_due.pk).update(payment_status=PaymentStatus.UNPAID)  # saved before it fell due
    current = InvoiceFactory(contact=contact, items=[("1", "100")])
    changelist = reverse("admin:crm_invoice_changelist")
    assert Invoice.objects.get(pk=long_due.pk).payment_status == PaymentStatus.UNPAID  # as stored
    response = bookkeeper_client.get(changelist, {"payment_status": "overdue"})
    assert list(response.context["cl"].result_list) == [long_due]
    assert "Overdue" in response.content.decode()
    response = bookkeeper_client.get(changelist, {"payment_status": "unpaid"})
    assert list(response.context["cl"].result_list) == [current]


def test_status_expression_agrees_with_the_service():
    contact = ContactFactory()
    today = timezone.localdate()
    past = today - datetime.timedelta(days=5)
    cases = [
        InvoiceFactory(contact=contact, items=[("1", "100")]),
        InvoiceFactory(contact=contact, items=[("1", "100")], status=InvoiceStatus.DRAFT),
        InvoiceFactory(contact=contact, items=[("1", "100")], due_date=past),
        InvoiceFactory(contact=contact, items=[("1", "100")], due_date=None),
        InvoiceFactory(contact=contact, items=[("1", "0")]),
    ]
    for invoice, paid in ((cases[0], Decimal("10")), (cases[1], cases[1].total_amount), (cases[2], Decimal("10"))):
        services.payment_apply(payment=PaymentFactory(contact=contact, amount=paid), invoice=invoice, amount=paid)
    services.invoice_void(invoice=cases[3])
    Invoice.objects.update(status=InvoiceStatus.SENT)  # as if saved before today
    Invoice.objects.filter(pk=cases[3].pk).update(status=InvoiceStatus.VOID)
    annotated = Invoice.objects.annotate(current=services.invoice_payment_status_expression(today))
    for invoice in annotated:
        assert invoice.current == services.invoice_payment_status_derive(invoice, today), invoice
    assert {invoice.current for invoice in annotated} == {"partial", "paid", "overdue", "unpaid"}


def test_superuser_deleting_an_unpaid_invoice_updates_the_contact(superuser_client):
    contact = ContactFactory()
    invoice = InvoiceFactory(contact=contact, items=[("1", "100")], tax_rate=Decimal("0"))
    keep = InvoiceFactory(contact=contact, items=[("1", "30")], tax_rate=Decimal("0"))
    assert (
        superuser_client.post(reverse("admin:crm_invoice_delete", args=[invoice.pk]), {"post": "yes"}).status_code
        == 302
    )
    contact.refresh_from_db()
    assert (contact.total_sales, contact.outstanding_balance) == (keep.total_amount, keep.total_amount)


def test_a_void_invoice_is_read_only(bookkeeper_client):
    invoice = services.invoice_void(invoice=InvoiceFactory(items=[("1", "100")], tax_rate=Decimal("0")))
    url = reverse("admin:crm_invoice_change", args=[invoice.pk])
    page = bookkeeper_client.get(url)
    assert page.status_code == 200
    assert 'name="items-0-unit_price"' not in page.content.decode()
    assert bookkeeper_client.post(url, {"notes": "edited after voiding"}).status_code == 403
    invoice.refresh_from_db()
    assert invoice.notes != "edited after voiding"
