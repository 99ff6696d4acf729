"""Two bookkeepers applying payments to one invoice at the same moment cannot overpay it (row locks, PostgreSQL)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from crm.errors import PaymentApplicationError
from crm.models import Invoice
from crm.services import payment_apply

from .factories import ContactFactory, InvoiceFactory, PaymentFactory


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
