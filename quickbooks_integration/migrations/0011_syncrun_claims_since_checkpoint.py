"""A run that keeps dying without a checkpoint stops being re-queued (services/runs.py `STALLED_CLAIMS`)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("quickbooks_integration", "0010_followups"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="claims_since_checkpoint",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="Claims in a row that saved no checkpoint: a run that keeps dying at one point stops.",
            ),
        ),
    ]
