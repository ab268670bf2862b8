"""Keep the pump's alarm volume as dated versions, and give sessions an ETag for voiding.

Alarm volumes were overwritten in place; each reprogramming is in the audit trail with the old
and new volume and the reason, so the history is rebuilt from it: the first volume from the
implant day, then each change from the day it was made (in the patient's time zone).
"""

from zoneinfo import ZoneInfo

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def alarm_history_from_audit(apps, schema_editor):
    ItbPump = apps.get_model("clinic", "ItbPump")
    ItbAlarmSetting = apps.get_model("clinic", "ItbAlarmSetting")
    AuditEvent = apps.get_model("clinic", "AuditEvent")
    for pump in ItbPump.objects.select_related("patient").iterator():
        changes = [
            event
            for event in AuditEvent.objects.filter(
                resource_type="itb_pump", action="update", resource_id=str(pump.pk)
            ).order_by("occurred_at")
            if "alarm_ml" in event.detail
        ]
        first = changes[0].detail["alarm_ml"][0] if changes else pump.alarm_ml
        previous = ItbAlarmSetting.objects.create(
            pump=pump, effective_from=pump.implanted_on, alarm_ml=first, created_by_id=pump.created_by_id
        )
        zone = ZoneInfo(pump.patient.time_zone)
        for event in changes:
            day = max(event.occurred_at.astimezone(zone).date(), pump.implanted_on)
            if day == previous.effective_from:  # changed again the same day: the later one stands
                previous.superseded_at = event.occurred_at
                previous.save(update_fields=["superseded_at"])
            previous = ItbAlarmSetting.objects.create(
                pump=pump,
                effective_from=day,
                alarm_ml=event.detail["alarm_ml"][1],
                reason=event.detail.get("reason", ""),
                created_by_id=event.actor_id or pump.created_by_id,
            )


class Migration(migrations.Migration):

    dependencies = [
        ('clinic', '0004_superseded_versions'),
    ]

    operations = [
        migrations.AddField(
            model_name='botulinumsession',
            name='revision',
            field=models.PositiveIntegerField(default=1, help_text="Counts changes (a void); the session's ETag."),
        ),
        migrations.AlterField(
            model_name='itbdose',
            name='superseded_at',
            field=models.DateTimeField(blank=True, help_text='Set when a later change cancelled this version before it took effect, or corrected it on the day it started.', null=True),
        ),
        migrations.AlterField(
            model_name='itbpump',
            name='alarm_ml',
            field=models.DecimalField(decimal_places=1, help_text='Low-reservoir alarm volume programmed now (manufacturer default 2 mL [NS04]); its history is in ``alarm_settings``.', max_digits=5),
        ),
        migrations.AlterField(
            model_name='medicationdose',
            name='superseded_at',
            field=models.DateTimeField(blank=True, help_text='Set when a later change cancelled this version before it took effect, or corrected it on the day it started.', null=True),
        ),
        migrations.AlterField(
            model_name='orthoticplanversion',
            name='superseded_at',
            field=models.DateTimeField(blank=True, help_text='Set when a later change cancelled this version before it took effect, or corrected it on the day it started.', null=True),
        ),
        migrations.AlterField(
            model_name='therapyplanversion',
            name='superseded_at',
            field=models.DateTimeField(blank=True, help_text='Set when a later change cancelled this version before it took effect, or corrected it on the day it started.', null=True),
        ),
        migrations.CreateModel(
            name='ItbAlarmSetting',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('effective_from', models.DateField(help_text='The day this version takes effect.')),
                ('reason', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('superseded_at', models.DateTimeField(blank=True, help_text='Set when a later change cancelled this version before it took effect, or corrected it on the day it started.', null=True)),
                ('alarm_ml', models.DecimalField(decimal_places=1, max_digits=5)),
                ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('pump', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='alarm_settings', to='clinic.itbpump')),
            ],
            options={
                'ordering': ['effective_from', 'id'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('superseded_at__isnull', True)), fields=('pump', 'effective_from'), name='itb_alarm_one_per_day'), models.CheckConstraint(condition=models.Q(('alarm_ml__gt', 0)), name='itb_alarm_positive')],
            },
        ),
        migrations.RunPython(alarm_history_from_audit, migrations.RunPython.noop),
    ]
