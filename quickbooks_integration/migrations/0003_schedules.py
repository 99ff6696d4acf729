"""Create the integration's django-q2 schedules (quickbooks_integration/schedules.py), idempotently."""

from django.db import migrations

from quickbooks_integration.schedules import schedules_ensure


def forwards(apps, schema_editor):
    schedules_ensure(schedule_model=apps.get_model("django_q", "Schedule"))


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("quickbooks_integration", "0002_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
