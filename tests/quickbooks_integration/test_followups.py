"""Follow-up workflows (issue 12, plan 4.2): each trigger raises its work once per event, replays and reruns raise
nothing more, a rule switched off raises nothing, the contact's page and history show the work, and only the roles
that may see, close or edit it can.

QuickBooks events are real: payments, estimates and customers are changed in the emulator through our client and
the signed webhooks go through the real view and processing (run inline). Overdue invoices and balances are CRM rows
made with the factories and evaluated by the nightly service, as the schedule runs it.
"""

from __future__ import annotations

import datetime
import importlib
import threading
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import connection as db_connection
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule

from crm.models import Activity, ActivityKind, Contact, Direction, InvoiceStatus
from quickbooks_integration.models import FollowUp, FollowUpRule, QuickBooksSync, SyncRun
from quickbooks_integration.models.followups import Trigger
from quickbooks_integration.qbo.client import qbo_create, qbo_read, qbo_update
from quickbooks_integration.services.customers import customers_import_run
from quickbooks_integration.services.followups import followup_complete, followups_evaluate
from quickbooks_integration.services.mirror import mirror_apply
from quickbooks_integration.tasks import followups_evaluate_task
from tests.crm.factories import ContactFactory, InvoiceFactory, UserFactory

from .test_webhooks import change, deliver, legacy

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("quickbooks_integration.migrations.0010_followups")
FOLLOWUPS = "/admin/quickbooks_integration/followup/"
RULES = "/admin/quickbooks_integration/followuprule/"


# ---------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def rules() -> dict[str, FollowUpRule]:
    """The migration's four default rules (made again if a flush removed them), switched on an hour ago."""
    made = {}
    for spec in MIGRATION.DEFAULT_RULES:
        rule, _ = FollowUpRule.objects.get_or_create(name=spec["name"], defaults=spec)
        made[rule.trigger] = rule
    FollowUpRule.objects.filter(pk__in=[r.pk for r in made.values()]).update(
        active=True, active_since=timezone.now() - datetime.timedelta(hours=1)
    )
    for rule in made.values():
        rule.refresh_from_db()
    return made


@pytest.fixture
def imported(connected, settings, rules):
    """The sandbox company's customers imported and linked to contacts, webhooks signed with a known token."""
    settings.QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN = "test-verifier-token"
    run = customers_import_run(connection_id=connected.pk, full=True)
    assert run.status == SyncRun.Status.SUCCEEDED
    return connected


_deliveries = iter(range(10_000))


def webhook(client, connection, entity: str, entity_id: str, operation: str, capture) -> None:
    """One signed delivery for one change, processed inline on commit; each call is a distinct event."""
    when = (datetime.datetime(2026, 12, 1, 10, 0) + datetime.timedelta(minutes=next(_deliveries))).strftime(
        "%Y-%m-%dT%H:%M:%S-0800"
    )
    with capture(execute=True):
        response = deliver(client, legacy(connection.realm_id, change(entity, entity_id, operation, when=when)))
    assert response.status_code == 200


def sparse_update(connection, entity: str, entity_id: str, **fields) -> dict:
    current = qbo_read(connection=connection, entity=entity, entity_id=entity_id)
    payload = {"Id": entity_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
    return qbo_update(connection=connection, entity=entity, payload=payload, request_id=str(uuid.uuid4()))


def payment_create(connection, customer_id: str, amount: str) -> dict:
    payload = {"CustomerRef": {"value": customer_id}, "TotalAmt": amount, "PaymentRefNum": "CHK-7781"}
    return qbo_create(connection=connection, entity="Payment", payload=payload, request_id=str(uuid.uuid4()))


def invoice_create(connection, customer_id: str, amount: str) -> dict:
    line = {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    payload = {"CustomerRef": {"value": customer_id}, "Line": [line]}
    return qbo_create(connection=connection, entity="Invoice", payload=payload, request_id=str(uuid.uuid4()))


def overdue_invoice(contact: Contact, *, days: int):
    """A sent, unpaid CRM invoice whose due date was `days` ago."""
    issued = timezone.localdate() - datetime.timedelta(days=days + 30)
    return InvoiceFactory(
        contact=contact, issue_date=issued, due_date=issued + datetime.timedelta(days=30), items=[("1", "450.00")]
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ---------------------------------------------------------------------------------------------------- migration


def test_the_migration_makes_the_four_rules_the_roles_and_the_nightly_schedule():
    assert set(FollowUpRule.objects.values_list("trigger", flat=True)) >= set(Trigger.values)
    assert all(rule.active and rule.active_since for rule in FollowUpRule.objects.all())
    perms = {
        group.name: set(group.permissions.filter(codename__contains="followup").values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=["Bookkeeper", "Staff", "Owner"])
    }
    assert perms["Staff"] == {"view_followup", "change_followup"}
    assert perms["Owner"] == {"view_followup", "view_followuprule"}
    assert {"add_followuprule", "change_followuprule", "view_followup", "change_followup"} <= perms["Bookkeeper"]
    assert not any("delete" in codename for codenames in perms.values() for codename in codenames)
    schedule = Schedule.objects.get(name="quickbooks-followups")
    assert (schedule.func, schedule.schedule_type) == ("quickbooks_integration.tasks.followups_evaluate_task", "D")
    local = timezone.localtime(schedule.next_run)
    assert (local.hour, local.minute) == (4, 0)


# ---------------------------------------------------------------------------------------------------- overdue


def test_an_invoice_overdue_by_the_rules_days_raises_one_call_task(rules):
    contact = ContactFactory(first_name="Dana", last_name="Whitfield")
    late = overdue_invoice(contact, days=20)
    overdue_invoice(contact, days=5)  # overdue, but not by the rule's 14 days

    assert followups_evaluate_task()["invoice_overdue"] == 1
    followup = FollowUp.objects.get()
    assert followup.contact == contact and followup.rule == rules[Trigger.INVOICE_OVERDUE]
    assert followup.summary == (
        f"Call Dana Whitfield about invoice {late}: ${late.balance_due:,} is 20 days overdue (due {late.due_date})."
    )
    assert followup.reference == f"Invoice {late}" and followup.state == "Open"

    followups_evaluate()  # the nightly job run again
    followups_evaluate_task()
    assert FollowUp.objects.count() == 1


def test_an_invoice_no_longer_overdue_clears_its_task_and_a_new_due_date_is_a_new_event(rules):
    invoice = overdue_invoice(ContactFactory(), days=20)
    followups_evaluate()
    first = FollowUp.objects.get()

    invoice.status = InvoiceStatus.VOID
    invoice.save()
    assert followups_evaluate().cleared == 1
    first.refresh_from_db()
    assert first.cleared_at is not None and first.state == "No longer needed"

    invoice.status, invoice.due_date = InvoiceStatus.SENT, timezone.localdate() - datetime.timedelta(days=15)
    invoice.save()
    followups_evaluate()
    followups_evaluate()
    assert FollowUp.objects.count() == 2, "moved due date missed again: one new task, once"


def test_an_inactive_rule_raises_nothing_and_its_clock_restarts_when_switched_on(rules):
    rule = rules[Trigger.INVOICE_OVERDUE]
    rule.active = False
    rule.save()
    assert rule.active_since is None
    overdue_invoice(ContactFactory(), days=30)
    contact = ContactFactory(credit_limit=Decimal("100.00"))
    Contact.objects.filter(pk=contact.pk).update(outstanding_balance=Decimal("900.00"))
    rules[Trigger.BALANCE_OVER_CREDIT_LIMIT].active = False
    rules[Trigger.BALANCE_OVER_CREDIT_LIMIT].save()

    followups_evaluate()
    assert not FollowUp.objects.exists()

    rule.active = True
    rule.save()
    assert rule.active_since is not None
    followups_evaluate()
    assert FollowUp.objects.filter(rule=rule).count() == 1


# ---------------------------------------------------------------------------------------------------- credit limit


def test_a_balance_above_the_credit_limit_flags_the_contact_once_per_episode(rules):
    contact = ContactFactory(credit_limit=Decimal("1000.00"), first_name="Ana", last_name="Ruiz")
    Contact.objects.filter(pk=contact.pk).update(outstanding_balance=Decimal("1250.00"))
    ContactFactory(credit_limit=None)  # no limit: never flagged

    followups_evaluate()
    followups_evaluate()
    flag = FollowUp.objects.get()
    assert flag.summary == "Ana Ruiz owes $1,250.00, above the credit limit of $1,000.00: settle it before new work."

    followup_complete(followup=flag, actor=UserFactory(groups=["Staff"]))
    followups_evaluate()
    assert FollowUp.objects.count() == 1, "done while still over the limit: not raised again"

    Contact.objects.filter(pk=contact.pk).update(outstanding_balance=Decimal("400.00"))
    assert followups_evaluate().cleared == 1
    Contact.objects.filter(pk=contact.pk).update(outstanding_balance=Decimal("1100.00"))
    followups_evaluate()
    followups_evaluate()
    assert FollowUp.objects.filter(contact=contact).count() == 2, "a second crossing is a second event"


# ---------------------------------------------------------------------------------------------------- webhooks


def test_a_payment_received_raises_one_thank_you_whatever_is_replayed(
    client, imported, emulator, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    contact = Contact.objects.get(quickbooks_customer_id="1")
    payment = payment_create(imported, "1", "275.00")

    webhook(client, imported, "Payment", payment["Id"], "Create", capture)
    followup = FollowUp.objects.get()
    assert followup.contact == contact and followup.rule.trigger == Trigger.PAYMENT_RECEIVED
    assert followup.summary == f"Thank {contact.display_name} for the payment of $275.00 ({payment['TxnDate']})."
    assert followup.key == f"payment_received:{followup.rule.pk}:{imported.realm_id}:{payment['Id']}"

    sparse_update(imported, "Payment", payment["Id"], PrivateNote="deposited")  # a newer copy reaches the hook
    webhook(client, imported, "Payment", payment["Id"], "Update", capture)
    webhook(client, imported, "Payment", payment["Id"], "Update", capture)  # nothing newer: the hook is not called
    followups_evaluate()  # the nightly sweep reads the same payment from the ledger
    assert FollowUp.objects.count() == 1
    assert QuickBooksSync.objects.get(entity_type="Payment", entity_id=payment["Id"]).payload["PrivateNote"]


def test_a_payment_while_the_rule_is_off_is_never_thanked(client, imported, rules, django_capture_on_commit_callbacks):
    rule = rules[Trigger.PAYMENT_RECEIVED]
    rule.active = False
    rule.save()
    payment = payment_create(imported, "1", "60.00")
    webhook(client, imported, "Payment", payment["Id"], "Create", django_capture_on_commit_callbacks)
    assert not FollowUp.objects.exists()

    rule.active = True
    rule.save()  # its clock starts now: the payment made while it was off stays unthanked
    followups_evaluate(now=timezone.now() + datetime.timedelta(minutes=1))
    assert not FollowUp.objects.exists()


def test_an_accepted_estimate_raises_schedule_the_job_once(client, imported, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    webhook(client, imported, "Estimate", "41", "Update", capture)  # still Pending: nothing to do
    assert not FollowUp.objects.exists()

    sparse_update(imported, "Estimate", "41", TxnStatus="Accepted")
    webhook(client, imported, "Estimate", "41", "Update", capture)
    followup = FollowUp.objects.get()
    assert followup.contact == Contact.objects.get(quickbooks_customer_id="3")
    assert followup.summary.startswith("Estimate ") and "accepted: schedule the job with" in followup.summary

    sparse_update(imported, "Estimate", "41", PrivateNote="crew booked")
    webhook(client, imported, "Estimate", "41", "Update", capture)
    followups_evaluate()
    assert FollowUp.objects.count() == 1


def test_a_balance_pushed_over_the_limit_in_quickbooks_flags_the_contact_once(
    client, imported, django_capture_on_commit_callbacks
):
    """The customers hook writes QBO's new balance on the contact, then ours compares it with the limit: an invoice
    raises the flag, a second one while still over raises nothing, a payment that settles it clears the episode."""
    capture = django_capture_on_commit_callbacks
    contact = Contact.objects.get(quickbooks_customer_id="1")
    Contact.objects.filter(pk=contact.pk).update(credit_limit=contact.outstanding_balance + Decimal("100.00"))

    invoice_create(imported, "1", "250.00")
    webhook(client, imported, "Customer", "1", "Update", capture)
    contact.refresh_from_db()
    flag = FollowUp.objects.get()
    assert flag.contact == contact and flag.rule.trigger == Trigger.BALANCE_OVER_CREDIT_LIMIT
    assert f"owes ${contact.outstanding_balance:,}" in flag.summary

    invoice_create(imported, "1", "40.00")
    webhook(client, imported, "Customer", "1", "Update", capture)
    followups_evaluate()
    assert FollowUp.objects.count() == 1

    payment_create(imported, "1", str(contact.outstanding_balance + Decimal("40.00")))  # unapplied: lowers Balance
    webhook(client, imported, "Customer", "1", "Update", capture)
    flag.refresh_from_db()
    assert flag.cleared_at is not None


def test_the_nightly_sweep_raises_what_no_hook_saw_and_nothing_from_before_the_rule(imported, emulator, rules):
    """Payments that reached the ledger without the hook (as a pull would put them there) are thanked by the nightly
    sweep if they were made after the rule was switched on: not one made before, even if edited since."""
    earlier = payment_create(imported, "1", "80.00")
    FollowUpRule.objects.filter(pk=rules[Trigger.PAYMENT_RECEIVED].pk).update(
        active_since=timezone.now() + datetime.timedelta(seconds=30)
    )
    emulator.control.advance_clock(60)
    later = payment_create(imported, "1", "120.00")
    sparse_update(imported, "Payment", earlier["Id"], PrivateNote="edited after the rule")
    with transaction.atomic():
        mirror_apply(
            connection=imported,
            entity_type="Payment",
            rows=[qbo_read(connection=imported, entity="Payment", entity_id=i) for i in (earlier["Id"], later["Id"])],
        )

    result = followups_evaluate()
    assert result.raised["payment_received"] == 1
    assert FollowUp.objects.get().source_id == later["Id"]
    followups_evaluate()
    assert FollowUp.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_at_once_raise_each_follow_up_once(rules):
    """The nightly job and a redelivered task at the same moment: both see no follow-up yet, both insert; the
    unique key keeps one of each."""
    contact = ContactFactory(credit_limit=Decimal("10.00"))
    Contact.objects.filter(pk=contact.pk).update(outstanding_balance=Decimal("50.00"))
    overdue_invoice(ContactFactory(), days=20)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            followups_evaluate()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(FollowUp.objects.values_list("rule__trigger", flat=True)) == [
        Trigger.BALANCE_OVER_CREDIT_LIMIT,
        Trigger.INVOICE_OVERDUE,
    ]


# ------------------------------------------------------------------------------------------------ timeline and roles


@pytest.fixture
def raised(rules) -> FollowUp:
    contact = ContactFactory(first_name="Lee", last_name="Okafor")
    overdue_invoice(contact, days=20)
    followups_evaluate()
    return FollowUp.objects.get()


def test_the_contact_page_and_history_show_the_follow_up(raised):
    staff = client_for(UserFactory(groups=["Staff"]))
    response = staff.get(f"/admin/crm/contact/{raised.contact_id}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Follow-ups" in html and raised.summary in html and "open" in html

    history = staff.get(f"/admin/crm/contact/{raised.contact_id}/history/").content.decode()
    assert "followup.raised" in history and raised.summary in history


def test_staff_mark_done_records_the_call_once(raised):
    staff_user = UserFactory(groups=["Staff"])
    staff = client_for(staff_user)
    listing = staff.get(FOLLOWUPS, {"assigned": "nobody"})
    assert listing.status_code == 200 and raised.summary in listing.content.decode()
    assert staff.get(f"{FOLLOWUPS}{raised.pk}/change/").status_code == 200
    response = staff.post(FOLLOWUPS, {"action": "mark_done", "_selected_action": [raised.pk]}, follow=True)
    assert "1 follow-up marked done." in response.content.decode()

    raised.refresh_from_db()
    assert raised.done_by == staff_user and raised.done_at is not None
    activity = raised.activity
    assert (activity.contact_id, activity.kind, activity.direction) == (
        raised.contact_id,
        ActivityKind.CALL,
        Direction.OUTBOUND,
    )
    followup_complete(followup=raised, actor=staff_user)  # a second press changes nothing
    assert Activity.objects.filter(contact_id=raised.contact_id).count() == 1
    page = staff.get(f"/admin/crm/contact/{raised.contact_id}/change/").content.decode()
    assert f"done by {staff_user.username}" in page
    assert staff.get(RULES).status_code == 403, "staff do not see the rules"


def test_the_owner_reads_but_cannot_mark_done_and_nobody_deletes(raised):
    owner = client_for(UserFactory(groups=["Owner"]))
    assert owner.get(FOLLOWUPS).status_code == 200
    assert owner.get(RULES).status_code == 200
    owner.post(FOLLOWUPS, {"action": "mark_done", "_selected_action": [raised.pk]})
    raised.refresh_from_db()
    assert raised.done_at is None
    with pytest.raises(PermissionDenied):  # the service refuses too
        followup_complete(followup=raised, actor=UserFactory(groups=["Owner"]))

    root = client_for(UserFactory(username="root-followups", is_superuser=True))
    assert root.post(f"{FOLLOWUPS}{raised.pk}/delete/", {"post": "yes"}).status_code == 403
    assert FollowUp.objects.filter(pk=raised.pk).exists()


def test_the_bookkeeper_edits_rules_and_a_bad_placeholder_is_refused(rules):
    bookkeeper = client_for(UserFactory(groups=["Bookkeeper"]))
    assert bookkeeper.get(RULES).status_code == 200
    rule = rules[Trigger.PAYMENT_RECEIVED]
    url = f"{RULES}{rule.pk}/change/"
    form = {
        "name": rule.name,
        "days": "0",
        "summary_template": "Thank {contact} for {amount} on invoice {invoice}",
        "activity_kind": "email",
        "assign_to": "",
        "active": "on",
    }
    response = bookkeeper.post(url, form)
    assert response.status_code == 200 and "Unknown placeholder {invoice}" in response.content.decode()

    form["summary_template"] = "Send {contact} a thank-you card for {amount}."
    assert bookkeeper.post(url, form).status_code == 302
    rule.refresh_from_db()
    assert rule.summary_template == "Send {contact} a thank-you card for {amount}."
    assert rule.trigger == Trigger.PAYMENT_RECEIVED
