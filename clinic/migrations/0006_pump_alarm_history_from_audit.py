"""Rebuild each pump's alarm volume history from the audit trail.

Alarm volumes were overwritten in place; each reprogramming is in the audit trail with the old
and new volume and the reason, so the history is rebuilt from it: the first volume from the
implant day, then each change from the day it was made (in the patient's time zone). The audit
trail is the largest table and has no index on what is asked here, so it is read once, for
every pump at the same time.
"""

from collections import defaultdict
from zoneinfo import ZoneInfo

from django.db import migrations


def alarm_history_from_audit(apps, schema_editor):
    ItbPump = apps.get_model("clinic", "ItbPump")
    ItbAlarmSetting = apps.get_model("clinic", "ItbAlarmSetting")
    AuditEvent = apps.get_model("clinic", "AuditEvent")
    changes = defaultdict(list)
    updates = AuditEvent.objects.filter(resource_type="itb_pump", action="update").order_by("occurred_at", "pk")
    for event in updates.iterator():
        if "alarm_ml" in event.detail:
            changes[event.resource_id].append(event)
    # A pump with a history already (a database that built it under an earlier numbering of
    # these migrations) keeps it: this runs once per pump.
    done = set(ItbAlarmSetting.objects.values_list("pump_id", flat=True))
    for pump in ItbPump.objects.select_related("patient").exclude(pk__in=done).iterator():
        pump_changes = changes.get(str(pump.pk), [])
        first = pump_changes[0].detail["alarm_ml"][0] if pump_changes else pump.alarm_ml
        previous = ItbAlarmSetting.objects.create(
            pump=pump, effective_from=pump.implanted_on, alarm_ml=first, created_by_id=pump.created_by_id
        )
        zone = ZoneInfo(pump.patient.time_zone)
        for event in pump_changes:
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
        ("clinic", "0005_pump_alarm_history_and_session_revision"),
    ]

    operations = [
        migrations.RunPython(alarm_history_from_audit, migrations.RunPython.noop),
    ]
