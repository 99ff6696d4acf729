"""Follow-up workflows (issue 12, plan 4.2): the rule and follow-up tables, the four default rules, who may see and
change them, and the nightly `quickbooks-followups` schedule (quickbooks_integration/schedules.py)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from crm.roles import roles_sync
from quickbooks_integration.schedules import schedules_ensure, schedules_nightly_align

# Frozen: the bookkeeper edits the rules and may close follow-ups (a rule may assign them the credit-limit flag);
# staff see follow-ups and mark them done; the owner reads both.
ROLES_QBO_0010 = {
    "Bookkeeper": [
        "quickbooks_integration.view_followuprule",
        "quickbooks_integration.add_followuprule",
        "quickbooks_integration.change_followuprule",
        "quickbooks_integration.view_followup",
        "quickbooks_integration.change_followup",
    ],
    "Staff": [
        "quickbooks_integration.view_followup",
        "quickbooks_integration.change_followup",
    ],
    "Owner": [
        "quickbooks_integration.view_followuprule",
        "quickbooks_integration.view_followup",
    ],
}

# Frozen: the plan's four workflows, active from the migration on, assigned to nobody until the bookkeeper says.
DEFAULT_RULES = (
    {
        "name": "Call about an overdue invoice",
        "trigger": "invoice_overdue",
        "days": 14,
        "summary_template": "Call {contact} about invoice {invoice}: {balance} is {days_overdue} days overdue "
        "(due {due_date}).",
        "activity_kind": "call",
    },
    {
        "name": "Schedule the job of an accepted estimate",
        "trigger": "estimate_accepted",
        "days": 0,
        "summary_template": "Estimate {estimate} ({amount}) accepted: schedule the job with {contact}.",
        "activity_kind": "",
    },
    {
        "name": "Thank the customer for a payment",
        "trigger": "payment_received",
        "days": 0,
        "summary_template": "Thank {contact} for the payment of {amount} ({date}).",
        "activity_kind": "email",
    },
    {
        "name": "Balance above the credit limit",
        "trigger": "balance_over_credit_limit",
        "days": 0,
        "summary_template": "{contact} owes {balance}, above the credit limit of {credit_limit}: settle it before "
        "new work.",
        "activity_kind": "",
    },
)


def forwards(apps, schema_editor):
    rule_model = apps.get_model("quickbooks_integration", "FollowUpRule")
    now = timezone.now()
    for rule in DEFAULT_RULES:
        rule_model.objects.get_or_create(name=rule["name"], defaults={**rule, "active": True, "active_since": now})
    roles_sync(apps=apps, table=ROLES_QBO_0010)
    schedule_model = apps.get_model("django_q", "Schedule")
    schedules_ensure(schedule_model=schedule_model)
    schedules_nightly_align(schedule_model=schedule_model)


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("crm", "0006_search_indexes"),
        ("quickbooks_integration", "0009_dashboards"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="FollowUpRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                (
                    "trigger",
                    models.CharField(
                        choices=[
                            ("invoice_overdue", "Invoice overdue by N days"),
                            ("estimate_accepted", "Estimate accepted"),
                            ("payment_received", "Payment received"),
                            ("balance_over_credit_limit", "Balance above the credit limit"),
                        ],
                        max_length=30,
                    ),
                ),
                (
                    "days",
                    models.PositiveSmallIntegerField(
                        default=0,
                        help_text="Invoice overdue only: how many days past its due date the invoice must be.",
                    ),
                ),
                (
                    "summary_template",
                    models.CharField(
                        help_text=(
                            "What the follow-up says. Placeholders: {contact}; overdue: {invoice} {balance} {due_date} "
                            "{days_overdue}; estimate: {estimate} {amount} {date}; payment: {payment} {amount} {date}; "
                            "credit limit: {balance} {credit_limit}."
                        ),
                        max_length=500,
                        verbose_name="summary",
                    ),
                ),
                (
                    "activity_kind",
                    models.CharField(
                        blank=True,
                        choices=[("call", "Call"), ("text", "Text"), ("voicemail", "Voicemail"), ("email", "E-mail")],
                        help_text=(
                            "When a follow-up is marked done, record an outbound activity of this kind on the contact; "
                            "blank: record none (e.g. where the phone system logs the call already)."
                        ),
                        max_length=20,
                    ),
                ),
                ("active", models.BooleanField(default=True)),
                (
                    "active_since",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text=(
                            "Payments and estimate acceptances from before this moment raise nothing "
                            "(no thank-you for last year's payments when a rule is switched on)."
                        ),
                        null=True,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "assign_to",
                    models.ForeignKey(
                        blank=True,
                        help_text=(
                            "Who does the work (contacts have no owner); blank: anyone with access to follow-ups."
                        ),
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "follow-up rule",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="FollowUp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "key",
                    models.CharField(
                        editable=False,
                        help_text="Rule and event: the same event never raises twice.",
                        max_length=200,
                        unique=True,
                    ),
                ),
                (
                    "source_id",
                    models.CharField(
                        blank=True,
                        editable=False,
                        help_text=(
                            "What raised it: the CRM invoice id (overdue), the QBO estimate or payment id, "
                            "the contact id (credit limit)."
                        ),
                        max_length=50,
                    ),
                ),
                ("reference", models.CharField(blank=True, help_text="E.g. “Invoice INV-000042”.", max_length=100)),
                ("summary", models.TextField()),
                ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("done_at", models.DateTimeField(blank=True, null=True)),
                (
                    "cleared_at",
                    models.DateTimeField(
                        blank=True,
                        help_text=(
                            "When what raised it ended (the invoice was paid, the balance fell back under the limit)."
                        ),
                        null=True,
                    ),
                ),
                (
                    "activity",
                    models.ForeignKey(
                        blank=True,
                        help_text="The outbound activity recorded when it was marked done.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="crm.activity",
                    ),
                ),
                (
                    "assigned_to",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "contact",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="qbo_followups", to="crm.contact"
                    ),
                ),
                (
                    "done_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="followups",
                        to="quickbooks_integration.followuprule",
                    ),
                ),
            ],
            options={
                "verbose_name": "follow-up",
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["contact", "-created_at"], name="qbo_followup_contact")],
            },
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
