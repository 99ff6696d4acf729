"""The background-sync schedules of issue 12 (quickbooks_integration/schedules.py): CDC every 15 minutes, the nightly
full reconciliation and financial-summary refresh, at their local hour; the earlier schedules are kept as they are."""

from django.db import migrations

from quickbooks_integration.schedules import schedules_ensure, schedules_nightly_align


def forwards(apps, schema_editor):
    schedule_model = apps.get_model("django_q", "Schedule")
    schedules_ensure(schedule_model=schedule_model)
    schedules_nightly_align(schedule_model=schedule_model)


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("quickbooks_integration", "0007_webhooks"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
