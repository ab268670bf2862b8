"""MedicationAdministration: one per injected muscle of a botulinum toxin session."""

from clinic.models import BotulinumSession, InjectionSite
from clinic.vocabulary import BOTULINUM_PRODUCTS, MDC, MUSCLES, SNOMED, muscle_mdc_code
from fhir_export.mapping.common import (
    JSON,
    concept,
    fhir_date,
    laterality_extension,
    meta,
    patient_reference,
    reference,
)
from fhir_export.vocabulary import ROUTES

# Toxin units are product-specific and never converted; UCUM's U is an enzyme unit, so the
# dose is an annotation, {Units}, beside the product (clinical-reference §3.4).
TOXIN_UNIT_CODE = "{Units}"


def muscle_site(muscle: str, side: str) -> JSON:
    """A muscle on one side: SNOMED CT where verified, else its sided MDC code [DCM3031], plus ours,
    with the side in the laterality extension."""
    word = MUSCLES[muscle]
    codings = [c.as_fhir() for c in word.codings if c.system == SNOMED]
    mdc = muscle_mdc_code(muscle, side)
    if not codings and mdc is not None:
        # MDC codes are secondary codings, and their displays are not verified: code only.
        codings.append({"system": MDC, "code": mdc})
    codings += [c.as_fhir() for c in word.codings if c.system != SNOMED]
    return {
        "extension": [laterality_extension(side)],
        "coding": codings,
        "text": f"{side.capitalize()} {word.label.lower()}",
    }


def injection_administration_id(site_id: int) -> str:
    return f"injection-{site_id}"


def injection_administration(site: InjectionSite, session: BotulinumSession) -> JSON:
    """One muscle's injection: the product and lot, the site and side, the units, part of the session."""
    product = concept(BOTULINUM_PRODUCTS, session.product)
    medication: JSON = {
        "resourceType": "Medication",
        "id": "product",
        "code": product,
        "batch": {"lotNumber": session.lot},
    }
    units = site.units
    return {
        "resourceType": "MedicationAdministration",
        "id": injection_administration_id(site.pk),
        "meta": meta(session.voided_at or session.created_at),
        "contained": [medication],
        "partOf": [reference("Procedure", session.pk)],
        "status": "entered-in-error" if session.voided_at is not None else "completed",
        "medicationReference": {"reference": "#product", "display": product["text"]},
        "subject": patient_reference(session.patient_id),
        "effectiveDateTime": fhir_date(session.injected_on),
        "dosage": {
            "text": f"{units:g} units of {product['text']} into the {side_text(site)} at {site.points} point(s)",
            "site": muscle_site(site.muscle, site.side),
            "route": concept(ROUTES, "intramuscular"),
            "dose": {
                "value": int(units) if units == units.to_integral_value() else float(units),
                "unit": "units",
                "system": "http://unitsofmeasure.org",
                "code": TOXIN_UNIT_CODE,
            },
        },
    }


def side_text(site: InjectionSite) -> str:
    return f"{site.side} {MUSCLES[site.muscle].label.lower()}"
