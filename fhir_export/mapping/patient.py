"""Patient and Group: the clinic's patients, identified by MRN in the clinic's own system."""

from datetime import datetime
from uuid import UUID

from clinic.models import Clinic, Patient
from fhir_export.mapping.common import JSON, fhir_date, meta, mrn_system, patient_reference


def patient_resource(patient: Patient) -> JSON:
    """A patient; the MRN is unique only within the clinic, hence a system per clinic."""
    return {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": meta(patient.updated_at),
        "identifier": [{"use": "usual", "system": mrn_system(patient.clinic_id), "value": patient.mrn}],
        "active": patient.is_active,
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "gender": patient.sex,
        "birthDate": fhir_date(patient.birth_date),
    }


def group_id(clinic_id: int) -> str:
    return f"clinic-{clinic_id}"


def clinic_group(clinic: Clinic, patient_ids: list[UUID], last_updated: datetime) -> JSON:
    """A clinic's patients as one Group (the target of Group-level ``$export``)."""
    return {
        "resourceType": "Group",
        "id": group_id(clinic.pk),
        "meta": meta(last_updated),
        "type": "person",
        "actual": True,
        "name": f"Patients of {clinic.name}",
        "quantity": len(patient_ids),
        "member": [{"entity": patient_reference(pid)} for pid in patient_ids],
    }
