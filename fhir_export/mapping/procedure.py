"""Procedure: a botulinum toxin injection session."""

from collections import Counter
from collections.abc import Sequence

from clinic.models import BotulinumSession, InjectionSite
from clinic.vocabulary import BOTULINUM_PRODUCTS, INJECTION_GUIDANCE
from fhir_export.mapping.common import JSON, concept, fhir_date, meta, patient_reference
from fhir_export.mapping.medication_administration import muscle_site
from fhir_export.vocabulary import CHEMODENERVATION, PROCEDURES

# CPT counts muscles per extremity: 1-4 muscles and 5 or more are different codes [CPT].
CPT_MANY_MUSCLES = 5


def chemodenervation_word(sites: Sequence[InjectionSite]) -> str | None:
    """The CPT word for the session's first extremity: the one with the most muscles injected."""
    per_extremity = Counter((site.limb, site.side) for site in sites)
    if not per_extremity:
        return None
    most = max(per_extremity.values())
    return "one_extremity_5_or_more_muscles" if most >= CPT_MANY_MUSCLES else "one_extremity_1_to_4_muscles"


def staff_display(user: object) -> JSON:
    """A performer by name only: staff are not exported as Practitioners, so nothing to resolve."""
    full_name = f"{getattr(user, 'first_name', '')} {getattr(user, 'last_name', '')}".strip()
    return {"display": full_name or str(getattr(user, "username", ""))}


def botulinum_procedure(session: BotulinumSession, sites: Sequence[InjectionSite]) -> JSON:
    """A session: chemodenervation coded by CPT, each injected muscle as a body site, the product used."""
    local = concept(PROCEDURES, "botulinum_toxin_injection")
    codings = list(local["coding"])
    word = chemodenervation_word(sites)
    if word is not None:
        codings = [*concept(CHEMODENERVATION, word)["coding"], *codings]
    notes = [f"Guidance: {INJECTION_GUIDANCE[session.guidance].label}."]
    if session.override_reason:
        notes.append(f"Label limit exceeded: {session.override_reason}")
    if session.notes:
        notes.append(session.notes)
    if session.voided_at is not None:
        notes.append(f"Entered in error: {session.void_reason}")
    resource: JSON = {
        "resourceType": "Procedure",
        "id": str(session.pk),
        "meta": meta(session.voided_at or session.created_at),
        "status": "entered-in-error" if session.voided_at is not None else "completed",
        "code": {"coding": codings, "text": local["text"]},
        "subject": patient_reference(session.patient_id),
        "performedDateTime": fhir_date(session.injected_on),
        "performer": [{"actor": staff_display(session.clinician)}],
        "usedCode": [concept(BOTULINUM_PRODUCTS, session.product)],
        "note": [{"text": text} for text in notes],
    }
    if sites:
        resource["bodySite"] = [muscle_site(site.muscle, site.side) for site in sites]
    return resource
