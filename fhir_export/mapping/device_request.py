"""DeviceRequest: an orthotic plan, one request per version (each names the one before)."""

from collections.abc import Sequence
from datetime import date

from clinic.models import OrthoticPlan, OrthoticPlanVersion
from clinic.vocabulary import ORTHOTIC_DEVICES
from fhir_export.mapping.care_plan import request_status
from fhir_export.mapping.common import JSON, fhir_date, instant, meta, patient_reference, reference, sided_concept
from fhir_export.mapping.medication_statement import dose_periods, superseded


def device_request_id(version_id: int) -> str:
    return f"orthosis-{version_id}"


def orthotic_device_requests(plan: OrthoticPlan, versions: Sequence[OrthoticPlanVersion], today: date) -> list[JSON]:
    """How the orthosis is to be worn over time; the side is on the device's code (our laterality extension)."""
    requests = []
    previous: int | None = None
    for version, last_day, changed in dose_periods(versions):
        if version.stopped:
            continue
        bounds = {"start": fhir_date(version.effective_from)}
        if last_day is not None:
            bounds["end"] = fhir_date(last_day)
        repeat: JSON = {"boundsPeriod": bounds}
        if version.hours_per_day is not None:
            repeat.update(
                frequency=1, period=1, periodUnit="d", duration=float(version.hours_per_day), durationUnit="h"
            )
        if version.at_night:
            repeat["when"] = ["NIGHT"]
        notes = [text for text in (version.wear_schedule, version.skin_check, version.reason) if text]
        if version.review_on is not None:
            notes.append(f"Review on {version.review_on:%Y-%m-%d}.")
        resource: JSON = {
            "resourceType": "DeviceRequest",
            "id": device_request_id(version.pk),
            "meta": meta(max(changed, plan.updated_at)),
            "status": request_status(version, version.effective_from, last_day, today),
            "intent": "order",
            "codeCodeableConcept": sided_concept(ORTHOTIC_DEVICES, plan.device, plan.side),
            "subject": patient_reference(plan.patient_id),
            "occurrenceTiming": {"repeat": repeat},
            "authoredOn": instant(version.created_at),
        }
        if previous is not None and not superseded(version):
            resource["priorRequest"] = [reference("DeviceRequest", device_request_id(previous))]
        if notes:
            resource["note"] = [{"text": text} for text in notes]
        requests.append(resource)
        if not superseded(version):
            previous = version.pk
    return requests
