"""The admin page "Reconcile with QuickBooks" (admin/reconcile.py) through the real admin, after the real pulls from
the emulator's sandbox company: the differences with their figures and links, the empty state, who may open it,
"Check against QuickBooks now" reading QBO (and a QBO error as a message), and queries that do not grow with rows."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Contact, Invoice
from crm.roles import BOOKKEEPER, OWNER, STAFF
from quickbooks_integration.models import QuickBooksAuth, QuickBooksSync, SyncRun
from quickbooks_integration.services.sales_pull import invoices_import_run
from tests.crm.factories import InvoiceFactory, UserFactory
from tests.quickbooks_integration.test_reconcile_command import _payment_in_quickbooks, _pulled

pytestmark = pytest.mark.django_db

URL = "/admin/quickbooks_integration/quickbookssync/reconcile/"
CONNECTION_URL = "/admin/quickbooks_integration/quickbooksauth/"


def _client(group: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username=f"{group.lower()}-1", groups=[group]))
    return client


def _rows(response) -> list[tuple[str, str, str, str, str]]:
    """The table as (link, figure, CRM, QuickBooks, difference) per row, read from the HTML the bookkeeper gets."""
    html = response.content.decode()
    return re.findall(
        r'<tr class="reconcile-difference"[^>]*>\s*<td>(?:<a href="([^"]*)">)?.*?</td>\s*<td>([^<]*)</td>\s*'
        r'<td class="reconcile-crm">([^<]*)</td>\s*<td class="reconcile-qbo">([^<]*)</td>\s*'
        r'<td class="reconcile-amount">([^<]*)</td>',
        html,
        re.S,
    )


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_bookkeeper_sees_each_difference_with_both_figures_and_a_link(connected, emulator):
    _pulled(connected)  # the books agree; now three figures stop agreeing:
    paid = Invoice.objects.filter(balance_due__gt=0, contact__quickbooks_customer_id="16").get()
    _payment_in_quickbooks(connected, paid)  # QBO's invoice owes 45.00; the payment is not pulled, so the CRM 75.00
    assert invoices_import_run(connection_id=connected.pk, full=True).status == SyncRun.Status.SUCCEEDED
    totalled = Invoice.objects.get(quickbooks_invoice_id="130")
    copy = QuickBooksSync.objects.get(connection=connected, entity_type="Invoice", entity_id="130")
    copy.payload = {**copy.payload, "TotalAmt": "372.07"}  # QBO's last copy: 10.00 more than the CRM's 362.07
    copy.save(update_fields=["payload"])
    contact = Contact.objects.get(quickbooks_customer_id="16")
    Contact.objects.filter(pk=contact.pk).update(outstanding_balance=Decimal("1100.00"))  # QuickBooks says 75.00
    emulator.control.clear_requests()

    response = _client(BOOKKEEPER).get(URL)

    assert response.status_code == 200
    assert sorted(_rows(response)) == sorted(
        [
            (reverse("admin:crm_invoice_change", args=[paid.pk]), "balance", "75.00", "45.00", "+30.00"),
            (reverse("admin:crm_invoice_change", args=[totalled.pk]), "total", "362.07", "372.07", "-10.00"),
            (reverse("admin:crm_contact_change", args=[contact.pk]), "balance", "1,100.00", "75.00", "+1,025.00"),
        ]
    )
    html = response.content.decode()
    assert f">invoice {totalled} (QuickBooks 130)</a>" in html
    assert f">contact {contact} (QuickBooks customer 16)</a>" in html
    invoices = Invoice.objects.exclude(quickbooks_invoice_id=None).count()
    contacts = Contact.objects.exclude(quickbooks_customer_id=None).count()
    assert invoices > 30 and contacts > 20
    assert f'<p id="reconcile-summary">{invoices} invoices and {contacts} contacts compared; 3 differences.</p>' in html
    assert "as of the last sync (" in html
    assert 'value="Check against QuickBooks now"' in html
    assert emulator.control.requests() == []  # the ledger's copies: no QBO call


def test_agreeing_books_show_the_empty_state(connected):
    _pulled(connected)

    response = _client(OWNER).get(URL)

    assert response.status_code == 200
    assert _rows(response) == []
    assert b"The CRM agrees with QuickBooks: no differences." in response.content


def test_staff_get_403_and_no_link_while_bookkeeper_owner_and_superuser_get_both(db, superuser):
    staff = _client(STAFF)
    assert staff.get(URL).status_code == 403
    assert staff.post(URL).status_code == 403
    assert b"Reconcile with QuickBooks" not in staff.get("/admin/").content

    root = Client()
    root.force_login(superuser)
    for client in (_client(BOOKKEEPER), _client(OWNER), root):
        assert client.get(URL).status_code == 200
        index = client.get("/admin/").content.decode()
        assert f'<a href="{URL}">Reconcile with QuickBooks</a>' in index


def test_without_a_connection_the_page_says_so_and_links_the_connection_page(db):
    response = _client(BOOKKEEPER).get(URL)

    assert response.status_code == 200
    assert b"QuickBooks is not connected" in response.content
    assert f'<a href="{CONNECTION_URL}">'.encode() in response.content
    assert b"Check against QuickBooks now" not in response.content


def test_a_disconnected_company_shows_the_last_copies_and_refuses_a_live_check_with_a_message(connected, emulator):
    _pulled(connected)
    QuickBooksAuth.objects.filter(pk=connected.pk).update(status=QuickBooksAuth.Status.NEEDS_RECONNECT)
    bookkeeper = _client(BOOKKEEPER)
    emulator.control.clear_requests()

    page = bookkeeper.get(URL)
    assert b"QuickBooks is not connected (needs reconnect" in page.content
    assert f'<a href="{CONNECTION_URL}">'.encode() in page.content
    assert b"Check against QuickBooks now" not in page.content
    assert b"The CRM agrees with QuickBooks: no differences." in page.content

    posted = bookkeeper.post(URL)
    assert posted.status_code == 200
    assert _messages(posted) == [
        "QuickBooks could not be read now: QuickBooks is not connected. The figures below are the last sync's."
    ]
    assert emulator.control.requests() == []


def test_check_now_reads_quickbooks_and_shows_what_no_pull_brought(connected, emulator):
    _pulled(connected)
    invoice = Invoice.objects.filter(balance_due__gt=0, contact__quickbooks_customer_id="16").get()
    _payment_in_quickbooks(connected, invoice)
    bookkeeper = _client(BOOKKEEPER)
    assert _rows(bookkeeper.get(URL)) == []  # the ledger has not seen the payment yet
    emulator.control.clear_requests()

    response = bookkeeper.post(URL)

    assert response.status_code == 200
    assert _messages(response) == []
    contact = Contact.objects.get(quickbooks_customer_id="16")
    assert _rows(response) == [
        (reverse("admin:crm_invoice_change", args=[invoice.pk]), "balance", "75.00", "45.00", "+30.00"),
        (reverse("admin:crm_contact_change", args=[contact.pk]), "balance", "75.00", "45.00", "+30.00"),
    ]
    assert b"read from QuickBooks now (" in response.content
    assert emulator.control.count("/query") == 2  # 37 invoices, 29 customers: one page each


@pytest.mark.parametrize(("status", "code"), [(429, "3001"), (403, "3100"), (500, "10000")])
def test_a_quickbooks_error_on_check_now_is_a_message_over_the_last_copies(connected, emulator, status, code):
    token = QuickBooksAuth.objects.get(pk=connected.pk).access_token
    emulator.control.fail_next("/query", status=status, code=code, count=5)
    emulator.control.clear_requests()

    response = _client(BOOKKEEPER).post(URL)

    assert response.status_code == 200
    (message,) = _messages(response)
    assert message.startswith("QuickBooks could not be read now: ")
    assert message.endswith("The figures below are the last sync's.")
    assert b"as of the last sync" in response.content
    assert token and token.encode() not in response.content
    assert emulator.control.count("/query") == 1  # a page does not wait out retries: one attempt


def test_the_page_queries_do_not_grow_with_invoices_or_differences(connected, django_assert_max_num_queries):
    _pulled(connected)
    bookkeeper = _client(BOOKKEEPER)
    bookkeeper.get(URL)  # the session and the permission caches warm up

    with CaptureQueriesContext(db_connection) as before:
        first = bookkeeper.get(URL)
    contact = Contact.objects.get(quickbooks_customer_id="16")
    for n in range(5):  # linked to QBO invoices the ledger never saw: five more rows, five more differences
        InvoiceFactory(contact=contact, items=[("1", "150")], quickbooks_invoice_id=f"9{n:03}")
    with django_assert_max_num_queries(len(before)):
        second = bookkeeper.get(URL)

    assert len(_rows(second)) == len(_rows(first)) + 5
    assert len(before) <= 15  # session, user, permissions, connection, the six of `sales_reconcile`, the banners
