"""Follow-up workflows (issue 12, plan 4.2): rules that turn what happens in QuickBooks into work for staff.

A `FollowUpRule` says which event makes work (an invoice overdue by N days, an estimate accepted, a payment received,
a balance above the credit limit), what the work says and who gets it. A `FollowUp` is one piece of that work for
one contact, raised at most once per rule and event: its `key` is unique, so a replayed webhook, a rerun of the
nightly evaluation or two workers racing can never raise it twice (services/followups.py builds the keys).

The CRM's `Activity` records calls, texts and e-mails that happened (the phone system feeds them), and has no "task"
kind: a to-do is not a call. So the work is a row here, shown on the contact's page and history, and marking it
done may record the outbound activity it led to (`activity`). Follow-ups are not deleted (a deleted key would let
its event raise it again), except with their contact; a rule that raised some cannot be deleted, only switched off.
"""

from __future__ import annotations

import string

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from crm.models import ActivityKind


class Trigger(models.TextChoices):
    INVOICE_OVERDUE = "invoice_overdue", "Invoice overdue by N days"
    ESTIMATE_ACCEPTED = "estimate_accepted", "Estimate accepted"
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    BALANCE_OVER_CREDIT_LIMIT = "balance_over_credit_limit", "Balance above the credit limit"


# The placeholders a rule's summary may use, per trigger; `{contact}` always works.
TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    Trigger.INVOICE_OVERDUE: ("contact", "invoice", "balance", "due_date", "days_overdue"),
    Trigger.ESTIMATE_ACCEPTED: ("contact", "estimate", "amount", "date"),
    Trigger.PAYMENT_RECEIVED: ("contact", "payment", "amount", "date"),
    Trigger.BALANCE_OVER_CREDIT_LIMIT: ("contact", "balance", "credit_limit"),
}


def template_fields_used(template: str) -> list[str]:
    """The placeholder names in `template`; raises ValueError on a malformed one ("{contact", "{0}", "{a.b}")."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"“{{{name}}}” is not a plain placeholder such as {{contact}}")
        names.append(name)
    return names


class FollowUpRule(models.Model):
    """What event raises work, what the work says, and who gets it. Edited by the bookkeeper in the admin."""

    name = models.CharField(max_length=100, unique=True)
    trigger = models.CharField(max_length=30, choices=Trigger.choices)
    days = models.PositiveSmallIntegerField(
        default=0, help_text="Invoice overdue only: how many days past its due date the invoice must be."
    )
    summary_template = models.CharField(
        "summary",
        max_length=500,
        help_text=(
            "What the follow-up says. Placeholders: {contact}; overdue: {invoice} {balance} {due_date} "
            "{days_overdue}; estimate: {estimate} {amount} {date}; payment: {payment} {amount} {date}; "
            "credit limit: {balance} {credit_limit}."
        ),
    )
    activity_kind = models.CharField(
        max_length=20,
        choices=ActivityKind.choices,
        blank=True,
        help_text="When a follow-up is marked done, record an outbound activity of this kind on the contact; "
        "blank: record none (e.g. where the phone system logs the call already).",
    )
    assign_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who does the work (contacts have no owner); blank: anyone with access to follow-ups.",
    )
    active = models.BooleanField(default=True)
    active_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Payments and estimate acceptances from before this moment raise nothing (no thank-you for "
        "last year's payments when a rule is switched on).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "follow-up rule"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Switching a rule on starts its clock; switching it off stops it, so events while it was off never fire.
        if self.active and self.active_since is None:
            self.active_since = timezone.now()
        elif not self.active:
            self.active_since = None
        if kwargs.get("update_fields") is not None and "active" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "active_since"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """The summary may only name the trigger's placeholders: a typo would otherwise fail in a webhook hook."""
        errors = {}
        try:
            unknown = sorted(set(template_fields_used(self.summary_template or "")) - set(self.template_fields))
        except ValueError as exc:
            errors["summary_template"] = str(exc)
        else:
            if unknown:
                allowed = ", ".join(f"{{{name}}}" for name in self.template_fields)
                errors["summary_template"] = (
                    f"Unknown placeholder{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(f'{{{name}}}' for name in unknown)}; this trigger knows {allowed}."
                )
        if self.trigger != Trigger.INVOICE_OVERDUE and self.days:
            errors["days"] = "Days only apply to the “Invoice overdue” trigger; leave 0."
        if errors:
            raise ValidationError(errors)

    @property
    def template_fields(self) -> tuple[str, ...]:
        return TEMPLATE_FIELDS.get(self.trigger, ("contact",))


class FollowUp(models.Model):
    """One piece of work for one contact, raised once by one rule for one event."""

    rule = models.ForeignKey(FollowUpRule, on_delete=models.PROTECT, related_name="followups")
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="qbo_followups")
    key = models.CharField(
        max_length=200, unique=True, editable=False, help_text="Rule and event: the same event never raises twice."
    )
    source_id = models.CharField(
        max_length=50,
        blank=True,
        editable=False,
        help_text="What raised it: the CRM invoice id (overdue), the QBO estimate or payment id, the contact id "
        "(credit limit).",
    )
    reference = models.CharField(max_length=100, blank=True, help_text="E.g. “Invoice INV-000042”.")
    summary = models.TextField()
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activity = models.ForeignKey(
        "crm.Activity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The outbound activity recorded when it was marked done.",
    )
    cleared_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When what raised it ended (the invoice was paid, the balance fell back under the limit).",
    )

    class Meta:
        verbose_name = "follow-up"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "-created_at"], name="qbo_followup_contact")]  # the timeline

    def __str__(self) -> str:
        return f"{self.rule}: {self.contact}"

    @property
    def state(self) -> str:
        if self.done_at:
            return "Done"
        return "No longer needed" if self.cleared_at else "Open"
