"""Keep the pump's alarm volume as dated versions, and give sessions an ETag for voiding.

The history of the pumps already recorded is rebuilt in the next migration, on its own, so the
tables altered here are not held locked while it reads the audit trail.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


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
    ]
