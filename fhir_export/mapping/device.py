"""Device: an implanted intrathecal baclofen pump."""

from clinic.models import ItbPump
from fhir_export.mapping.common import JSON, concept, meta, patient_reference, ucum
from fhir_export.vocabulary import DEVICE_KINDS, DEVICE_PROPERTIES


def itb_pump_device(pump: ItbPump) -> JSON:
    """The pump with its reservoir and low-reservoir alarm volumes; inactive once explanted."""
    device: JSON = {
        "resourceType": "Device",
        "id": str(pump.pk),
        "meta": meta(pump.updated_at),
        "status": "inactive" if pump.explanted_on is not None else "active",
        "deviceName": [{"name": pump.model, "type": "model-name"}],
        "type": concept(DEVICE_KINDS, "intrathecal_pump"),
        "patient": patient_reference(pump.patient_id),
        "property": [
            {"type": concept(DEVICE_PROPERTIES, "reservoir_volume"), "valueQuantity": [ucum(pump.reservoir_ml, "mL")]},
            {
                "type": concept(DEVICE_PROPERTIES, "low_reservoir_alarm_volume"),
                "valueQuantity": [ucum(pump.alarm_ml, "mL")],
            },
        ],
    }
    if pump.serial_number:
        device["serialNumber"] = pump.serial_number
    return device
