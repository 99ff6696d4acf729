"""Quote → QBO invoice (linked to its estimate) → e-mailed from QBO → its PDF, against the running emulator over real
HTTP; with the failures of issue 11 on the way (inactive item, duplicate number, lost answers, throttling), each a
failure row, none making an invoice or an e-mail twice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from crm.models import Invoice, InvoiceStatus, Quote, QuoteStatus
from crm.models.sales import EmailStatus
from crm.roles import OWNER
from crm.services import quote_convert_to_invoice
from quickbooks_integration.models import AuditEvent, QuickBooksSync, SyncFailure
from quickbooks_integration.qbo.client import qbo_query, qbo_read
from quickbooks_integration.services import estimates, invoices
from quickbooks_integration.services.mirror import qbo_time
from tests.crm.factories import UserFactory

from . import test_estimates as shared
from .test_estimates import FAST_FAILURES, api_calls, contact_for, item_active_set, open_failure, quote_for

# The estimate tests' fixtures, shared by name (a conftest of their own would be a file outside this change).
sandbox, staff, staff_client = shared.sandbox, shared.staff, shared.staff_client


def invoices_marked(sandbox, invoice: Invoice) -> list[dict]:
    rows = qbo_query(connection=sandbox.connection, sql="SELECT * FROM Invoice ORDERBY Id")
    return [row for row in rows if row.get("PrivateNote") == invoices.invoice_marker(invoice)]


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _fast(settings) -> None:
    for name, value in FAST_FAILURES.items():
        setattr(settings, name, value)


# ---------------------------------------------------------------------------------------------------- convert


@pytest.mark.django_db
def test_convert_makes_a_qbo_invoice_linked_to_the_estimate_and_a_crm_invoice_linked_to_the_quote(
    sandbox, emulator, staff
):
    quote = quote_for(sandbox)
    estimates.estimate_push(quote=quote, actor=staff)
    emulator.control.clear_requests()

    result = invoices.quote_convert(quote=quote, actor=staff)

    assert result.outcome == "created" and not result.total_differs
    quote.refresh_from_db()
    invoice = Invoice.objects.get(quote=quote)
    assert result.invoice.pk == invoice.pk and quote.status == QuoteStatus.CONVERTED
    assert (invoice.total_amount, result.qbo_total) == (Decimal("222.90"), Decimal("222.90"))
    qbo_invoice = qbo_read(connection=sandbox.connection, entity="Invoice", entity_id=invoice.quickbooks_invoice_id)
    assert {"TxnId": quote.quickbooks_estimate_id, "TxnType": "Estimate"} in qbo_invoice["LinkedTxn"]
    assert qbo_invoice["DocNumber"] == invoice.invoice_number and invoice.quickbooks_sync_token == "0"
    assert Decimal(str(qbo_invoice["TotalAmt"])) == invoice.total_amount
    qbo_lines = [line for line in qbo_invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    assert list(invoice.items.values_list("quickbooks_line_id", flat=True)) == [line["Id"] for line in qbo_lines]
    assert invoice.due_date is not None  # QBO's, from its terms, since the quote had none
    estimate = qbo_read(connection=sandbox.connection, entity="Estimate", entity_id=quote.quickbooks_estimate_id)
    assert estimate["TxnStatus"] == "Closed"
    assert (
        QuickBooksSync.objects.get(entity_type="Invoice", entity_id=invoice.quickbooks_invoice_id).local_id
        == invoice.pk
    )
    assert [r["path"].rsplit("/", 1)[-1] for r in api_calls(emulator, "/v3/")] == ["invoice"]  # estimate unchanged
    assert AuditEvent.objects.filter(action="invoice_push", object_id=str(invoice.pk), outcome="success").exists()


@pytest.mark.django_db
def test_convert_pushes_the_estimate_first_when_there_is_none(sandbox, emulator, staff):
    quote = quote_for(sandbox)

    result = invoices.quote_convert(quote=quote, actor=staff)

    assert result.outcome == "created"
    quote.refresh_from_db()
    assert quote.quickbooks_estimate_id
    qbo_invoice = qbo_read(
        connection=sandbox.connection, entity="Invoice", entity_id=result.invoice.quickbooks_invoice_id
    )
    assert qbo_invoice["LinkedTxn"][0] == {"TxnId": quote.quickbooks_estimate_id, "TxnType": "Estimate"}


@pytest.mark.django_db
def test_converting_twice_makes_one_invoice_each_side(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    first = invoices.quote_convert(quote=quote, actor=staff)
    emulator.control.clear_requests()

    second = invoices.quote_convert(quote=quote, actor=staff)

    assert (first.outcome, second.outcome) == ("created", "already")
    assert second.invoice.pk == first.invoice.pk and Invoice.objects.filter(quote=quote).count() == 1
    assert len(invoices_marked(sandbox, first.invoice)) == 1
    assert api_calls(emulator, "/invoice") == []


@pytest.mark.django_db
def test_a_crm_only_conversion_is_pushed_later_without_a_second_crm_invoice(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    local = quote_convert_to_invoice(quote=quote)  # the CRM-only action, before QuickBooks was connected

    result = invoices.quote_convert(quote=quote, actor=staff)

    assert result.outcome == "created" and result.invoice.pk == local.pk
    assert Invoice.objects.filter(quote=quote).count() == 1


@pytest.mark.django_db
def test_an_inactive_item_leaves_the_crm_invoice_and_a_failure_row_and_the_retry_resumes(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    estimates.estimate_push(quote=quote, actor=staff)
    item_active_set(sandbox, "Rocks", False)

    failed = invoices.quote_convert(quote=quote, actor=staff)

    assert failed.outcome == "failed" and "QuickBooks error 610" in failed.message
    invoice = Invoice.objects.get(quote=quote)
    assert failed.invoice.pk == invoice.pk and not invoice.quickbooks_invoice_id
    failure = open_failure(f"invoice_push:invoice:{invoice.pk}")
    assert (failure.code, failure.error_class, failure.retry_args["quote_id"]) == ("610", "NotFoundError", quote.pk)
    item_active_set(sandbox, "Rocks", True)

    resumed = invoices.quote_convert(quote=quote, actor=staff)

    assert resumed.outcome == "created" and resumed.invoice.pk == invoice.pk
    assert Invoice.objects.filter(quote=quote).count() == 1 and len(invoices_marked(sandbox, invoice)) == 1
    failure.refresh_from_db()
    assert failure.resolved_at is not None


@pytest.mark.django_db
def test_a_lost_invoice_answer_is_found_by_its_marker_on_retry(sandbox, emulator, staff, settings):
    _fast(settings)
    quote = quote_for(sandbox)
    estimates.estimate_push(quote=quote, actor=staff)
    emulator.control.drop_response_next("/invoice$", method="POST")

    lost = invoices.quote_convert(quote=quote, actor=staff)

    assert lost.outcome == "failed"
    assert len(invoices_marked(sandbox, lost.invoice)) == 1  # QBO made it; the answer was lost
    emulator.control.clear_requests()

    found = invoices.quote_convert(quote=quote, actor=staff)

    assert found.outcome == "found"
    assert api_calls(emulator, "/invoice") == [] and len(api_calls(emulator, "/query")) == 1
    assert len(invoices_marked(sandbox, lost.invoice)) == 1
    assert Invoice.objects.get(quote=quote).quickbooks_invoice_id == invoices_marked(sandbox, lost.invoice)[0]["Id"]


@pytest.mark.django_db
def test_a_duplicate_invoice_number_6140_is_a_failure_row(sandbox, emulator, staff):
    quote = quote_for(sandbox)
    invoice = quote_convert_to_invoice(quote=quote)
    Invoice.objects.filter(pk=invoice.pk).update(invoice_number="1001")  # a sandbox invoice's number

    result = invoices.quote_convert(quote=quote, actor=staff)

    assert result.outcome == "failed"
    failure = open_failure(f"invoice_push:invoice:{invoice.pk}")
    assert failure.code == "6140" and "Duplicate Document Number" in failure.message


@pytest.mark.django_db
def test_an_invoice_total_qbo_computes_differently_is_flagged(sandbox, emulator, staff):
    quote = quote_for(sandbox, tax_rate="6.25")

    result = invoices.quote_convert(quote=quote, actor=staff)

    assert result.outcome == "created" and result.total_differs
    flag = open_failure(f"invoice_total:invoice:{result.invoice.pk}")
    assert "222.90 differs from the CRM's 221.72" in flag.message


@pytest.mark.django_db
def test_a_declined_quote_is_not_converted(sandbox, emulator, staff):
    quote = quote_for(sandbox, status=QuoteStatus.DECLINED)

    result = invoices.quote_convert(quote=quote, actor=staff)

    assert result.outcome == "failed" and "declined" in result.message
    assert not Invoice.objects.filter(quote=quote).exists()
    assert api_calls(emulator, "/estimate") == [] and not Quote.objects.get(pk=quote.pk).quickbooks_estimate_id


# ---------------------------------------------------------------------------------------------------- send


def _converted(sandbox, staff, **quote_fields) -> Invoice:
    result = invoices.quote_convert(quote=quote_for(sandbox, **quote_fields), actor=staff)
    assert result.outcome == "created", result.message
    return Invoice.objects.get(pk=result.invoice.pk)


@pytest.mark.django_db
def test_send_emails_the_contact_from_qbo_and_tracks_status_and_time(sandbox, emulator, staff):
    contact = contact_for(sandbox, email="amy@birds.example")
    invoice = _converted(sandbox, staff, contact=contact)
    emulator.control.clear_requests()

    result = invoices.invoice_send(invoice=invoice, actor=staff)

    assert result.outcome == "sent"
    sends = api_calls(emulator, "/send")
    assert len(sends) == 1 and sends[0]["query"]["sendTo"] == contact.email
    assert [e["to"] for e in emulator.control.emails()] == [contact.email]
    invoice.refresh_from_db()
    qbo_invoice = qbo_read(connection=sandbox.connection, entity="Invoice", entity_id=invoice.quickbooks_invoice_id)
    assert invoice.email_status == EmailStatus.EMAIL_SENT == qbo_invoice["EmailStatus"]
    assert invoice.status == InvoiceStatus.SENT
    assert invoice.sent_at == qbo_time(qbo_invoice["DeliveryInfo"]["DeliveryTime"])  # QBO's delivery time
    assert invoice.quickbooks_sync_token == qbo_invoice["SyncToken"]
    assert AuditEvent.objects.get(action="invoice_send", object_id=str(invoice.pk)).after["to"] == contact.email


@pytest.mark.django_db
def test_sending_twice_emails_once(sandbox, emulator, staff):
    invoice = _converted(sandbox, staff)

    first = invoices.invoice_send(invoice=invoice, actor=staff)
    second = invoices.invoice_send(invoice=invoice, actor=staff)

    assert (first.outcome, second.outcome) == ("sent", "already")
    assert len(emulator.control.emails()) == 1


@pytest.mark.django_db
def test_a_lost_send_answer_is_checked_before_sending_again(sandbox, emulator, staff, settings):
    _fast(settings)
    invoice = _converted(sandbox, staff)
    emulator.control.drop_response_next("/send$", method="POST")

    lost = invoices.invoice_send(invoice=invoice, actor=staff)

    assert (
        lost.outcome == "failed" and open_failure(f"invoice_send:invoice:{invoice.pk}").error_class == "TransientError"
    )
    assert len(emulator.control.emails()) == 1  # it did go out

    retried = invoices.invoice_send(invoice=invoice, actor=staff)

    assert retried.outcome == "found" and len(emulator.control.emails()) == 1
    invoice.refresh_from_db()
    assert invoice.email_status == EmailStatus.EMAIL_SENT and invoice.sent_at is not None
    assert open_failure(f"invoice_send:invoice:{invoice.pk}") is None


@pytest.mark.django_db
def test_a_throttled_send_is_a_failure_row_and_mails_nobody(sandbox, emulator, staff, settings):
    _fast(settings)
    invoice = _converted(sandbox, staff)
    emulator.control.fail_next("/send$", status=429, method="POST")

    result = invoices.invoice_send(invoice=invoice, actor=staff)

    assert result.outcome == "failed"
    assert open_failure(f"invoice_send:invoice:{invoice.pk}").code == "3001"
    assert emulator.control.emails() == []
    assert Invoice.objects.get(pk=invoice.pk).email_status == EmailStatus.NOT_SET


@pytest.mark.django_db
def test_a_contact_without_email_is_a_failure_row(sandbox, emulator, staff):
    invoice = _converted(sandbox, staff, contact=contact_for(sandbox, email=""))
    type(invoice.contact).objects.filter(pk=invoice.contact_id).update(email="")

    result = invoices.invoice_send(invoice=invoice, actor=staff)

    assert result.outcome == "failed" and "has no e-mail address" in result.message
    assert open_failure(f"invoice_send:invoice:{invoice.pk}").error_class == "InvoiceSendError"
    assert api_calls(emulator, "/send") == []


@pytest.mark.django_db
def test_an_invoice_not_in_qbo_is_refused_without_a_call(sandbox, emulator, staff):
    invoice = quote_convert_to_invoice(quote=quote_for(sandbox))

    result = invoices.invoice_send(invoice=invoice, actor=staff)

    assert result.outcome == "failed" and "not in QuickBooks yet" in result.message
    assert api_calls(emulator, "/send") == []


@pytest.mark.django_db
def test_sending_rechecks_the_permission(sandbox, emulator, staff):
    invoice = _converted(sandbox, staff)
    owner = UserFactory(username="the-owner", groups=[OWNER])

    with pytest.raises(estimates.PushNotAllowedError):
        invoices.invoice_send(invoice=invoice, actor=owner)

    assert emulator.control.emails() == []


# ---------------------------------------------------------------------------------------------------- admin, PDF


@pytest.mark.django_db
def test_staff_convert_and_send_from_the_quote_list(sandbox, emulator, staff_client):
    quote = quote_for(sandbox)

    converted = staff_client.post(
        "/admin/crm/quote/", {"action": "convert_to_invoice", "_selected_action": [quote.pk]}, follow=True
    )
    sent = staff_client.post(
        "/admin/crm/quote/", {"action": "send_invoice", "_selected_action": [quote.pk]}, follow=True
    )

    assert _messages(converted) == ["1 quote converted to QuickBooks invoices (1 created)."]
    assert _messages(sent) == ["1 quote sent from QuickBooks (1 sent)."]
    invoice = Invoice.objects.get(quote=quote)
    assert invoice.email_status == EmailStatus.EMAIL_SENT and len(emulator.control.emails()) == 1


@pytest.mark.django_db
def test_send_from_the_invoice_list_lists_each_failure(sandbox, emulator, staff, staff_client):
    good = _converted(sandbox, staff)
    local = quote_convert_to_invoice(quote=quote_for(sandbox))
    page = staff_client.get("/admin/crm/invoice/").content.decode()
    assert 'value="send_invoice"' in page and 'value="mark_sent"' in page  # QuickBooks' send beside the CRM's mark

    response = staff_client.post(
        "/admin/crm/invoice/", {"action": "send_invoice", "_selected_action": [good.pk, local.pk]}, follow=True
    )

    [message] = _messages(response)
    assert message.startswith("1 invoice sent from QuickBooks (1 sent). 1 failed: ")
    assert f"{local}: {local}: it is not in QuickBooks yet" in message


@pytest.mark.django_db
def test_the_invoice_page_links_to_the_pdf_which_streams_from_qbo(sandbox, emulator, staff, staff_client):
    invoice = _converted(sandbox, staff)
    url = f"/quickbooks/invoices/{invoice.pk}/pdf/"
    page = staff_client.get(f"/admin/crm/invoice/{invoice.pk}/change/").content.decode()
    assert f'href="{url}"' in page and "Download the PDF from QuickBooks" in page
    emulator.control.clear_requests()

    response = staff_client.get(url)

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice}.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert [r["path"] for r in api_calls(emulator, "/pdf", "GET")] == [
        f"/v3/company/{emulator.realm_id}/invoice/{invoice.quickbooks_invoice_id}/pdf"
    ]


@pytest.mark.django_db
def test_the_pdf_of_an_invoice_not_in_qbo_goes_back_with_the_reason(sandbox, emulator, staff_client):
    invoice = quote_convert_to_invoice(quote=quote_for(sandbox))
    page = staff_client.get(f"/admin/crm/invoice/{invoice.pk}/change/").content.decode()
    assert "Download the PDF" not in page

    response = staff_client.get(f"/quickbooks/invoices/{invoice.pk}/pdf/", follow=True)

    assert response.redirect_chain[-1][0] == f"/admin/crm/invoice/{invoice.pk}/change/"
    assert "is not in QuickBooks yet" in _messages(response)[0]


@pytest.mark.django_db
def test_the_pdf_needs_a_signed_in_staff_member(sandbox, emulator, staff):
    invoice = _converted(sandbox, staff)
    anonymous = Client().get(f"/quickbooks/invoices/{invoice.pk}/pdf/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    outsider = Client()
    outsider.force_login(UserFactory(username="not-staff", is_staff=False))
    assert outsider.get(f"/quickbooks/invoices/{invoice.pk}/pdf/").status_code == 403


@pytest.mark.django_db
def test_the_retry_of_a_failed_send_sends_once(sandbox, emulator, staff, settings, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import Permission

    from quickbooks_integration.services.failures import failure_retry

    _fast(settings)
    invoice = _converted(sandbox, staff)
    emulator.control.fail_next("/send$", status=503, method="POST")
    invoices.invoice_send(invoice=invoice, actor=staff)
    failure = SyncFailure.objects.get(key=f"invoice_send:invoice:{invoice.pk}")
    retrier = UserFactory(username="retrier", is_superuser=True)
    retrier.user_permissions.add(Permission.objects.get(codename="retry_sync"))

    with django_capture_on_commit_callbacks(execute=True):
        assert failure_retry(failure=failure, actor=retrier) == f"sending of invoice #{invoice.pk} queued"

    failure.refresh_from_db()
    assert failure.resolved_at is not None and len(emulator.control.emails()) == 1
    assert Quote.objects.get(pk=invoice.quote_id).status == QuoteStatus.CONVERTED
