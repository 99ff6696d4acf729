"""Two bookkeepers applying payments to one invoice at the same moment cannot overpay it (row locks, PostgreSQL),
through the service or the admin."""

import contextlib
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from crm import services
from crm.errors import PaymentApplicationError
from crm.models import Invoice
from crm.roles import BOOKKEEPER
from crm.services import payment_apply

from .factories import ContactFactory, InvoiceFactory, PaymentFactory, UserFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_applications_cannot_overpay():
    contact = ContactFactory()
    invoice = InvoiceFactory(contact=contact, items=[("1", "100")], tax_rate=Decimal("0"))
    payments = [PaymentFactory(contact=contact, amount=Decimal("80")) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def apply(payment):
        try:
            barrier.wait()
            payment_apply(payment=payment, invoice=invoice, amount=Decimal("80"))
            outcomes.append("applied")
        except PaymentApplicationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=apply, args=(payment,)) for payment in payments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["applied", "refused"]
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert (invoice.amount_paid, invoice.balance_due) == (Decimal("80.00"), Decimal("20.00"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_admin_payments_cannot_overpay(monkeypatch):
    """Two bookkeepers saving a payment for the same invoice in the admin: the second sees the first's money.

    Each request's validation waits (up to a second) for the other to have validated too, which makes the race
    certain without the invoice lock and merely slower with it.
    """
    contact = ContactFactory()
    invoice = InvoiceFactory(contact=contact, items=[("1", "100")], tax_rate=Decimal("0"))
    user = UserFactory(username="bk", groups=[BOOKKEEPER])
    barrier = threading.Barrier(2)
    validate = services.payment_applications_check

    def validate_then_wait(**kwargs):
        validate(**kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1)

    monkeypatch.setattr(services, "payment_applications_check", validate_then_wait)
    statuses: list[int] = []

    def post():
        try:
            client = Client()
            client.force_login(user)
            statuses.append(
                client.post(
                    reverse("admin:crm_payment_add"),
                    {
                        "contact": contact.pk,
                        "amount": "80",
                        "payment_date": "2025-06-01",
                        "method": "check",
                        "currency": "USD",
                        "applications-TOTAL_FORMS": "1",
                        "applications-INITIAL_FORMS": "0",
                        "applications-0-invoice": invoice.pk,
                        "applications-0-amount": "80",
                    },
                ).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [200, 302]
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert (invoice.amount_paid, invoice.balance_due) == (Decimal("80.00"), Decimal("20.00"))
