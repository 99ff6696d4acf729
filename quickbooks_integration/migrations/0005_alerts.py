"""Alert incidents (services/alerts.py), and the alerts schedule added to schedules.py."""

from django.db import migrations, models

from quickbooks_integration.schedules import schedules_ensure


def schedules_forwards(apps, schema_editor):
    schedules_ensure(schedule_model=apps.get_model("django_q", "Schedule"))


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("quickbooks_integration", "0004_sync_groundwork"),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertIncident",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("reconnect", "QuickBooks needs reconnecting"),
                            ("sync_failed", "A sync failed"),
                            ("failures_piling", "Sync failures are piling up"),
                        ],
                        max_length=30,
                    ),
                ),
                ("key", models.CharField(help_text="Identifies the incident: one open row per key.", max_length=120)),
                ("summary", models.CharField(max_length=300)),
                ("detail", models.TextField(blank=True)),
                ("opened_at", models.DateTimeField(auto_now_add=True)),
                ("last_seen_at", models.DateTimeField()),
                ("notified_at", models.DateTimeField(blank=True, help_text="When the e-mail went out.", null=True)),
                ("recipients", models.PositiveIntegerField(default=0, help_text="How many addresses it went to.")),
                ("resolved_at", models.DateTimeField(blank=True, db_index=True, null=True)),
            ],
            options={
                "ordering": ["-opened_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("resolved_at__isnull", True)), fields=("key",), name="qbo_alert_open_key"
                    )
                ],
            },
        ),
        migrations.RunPython(schedules_forwards, migrations.RunPython.noop),
    ]
