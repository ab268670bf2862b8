from django.db import migrations, models


class Migration(migrations.Migration):
    """Goals get a change time. Existing rows take the migration's time, so the next incremental
    FHIR export delivers every goal once, including those closed before goals kept a change time."""

    dependencies = [
        ("clinic", "0006_pump_alarm_history_from_audit"),
    ]

    operations = [
        migrations.AddField(
            model_name="goal",
            name="updated_at",
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.AddIndex(
            model_name="goal",
            index=models.Index(fields=["updated_at"], name="goal_updated"),
        ),
    ]
