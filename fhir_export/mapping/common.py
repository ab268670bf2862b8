"""Building blocks every mapper uses: references, meta, codes, quantities, identifiers.

Mappers return plain JSON-ready dicts (DESIGN.md: a pydantic model per resource is over 100
times slower than a dict serialized with orjson). Concepts built from vocabulary words are
cached and shared between resources, so mapped dicts are read-only.
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from clinic.vocabulary import LATERALITY, UCUM, Vocabulary

JSON = dict[str, Any]

# Built once per word: an export maps millions of rows, and a settings lookup per code showed
# up in its profile. Cleared when a test overrides the URLs the concepts contain.
_concepts: dict[tuple[str, str], JSON] = {}
CACHES: list[dict[Any, Any]] = [_concepts]


@receiver(setting_changed)
def _forget_concepts(setting: str, **kwargs: Any) -> None:
    if setting in ("CODE_SYSTEM_BASE_URL", "FHIR_CANONICAL_BASE_URL"):
        for cache in CACHES:
            cache.clear()


def concept(vocabulary: Vocabulary, word: str) -> JSON:
    """A CodeableConcept with every code the word has (standard ones first, then ours)."""
    key = (vocabulary.name, word)
    cached = _concepts.get(key)
    if cached is None:
        entry = vocabulary[word]
        cached = {"coding": [c.as_fhir() for c in entry.codings], "text": entry.label}
        _concepts[key] = cached
    return cached


def reference(resource_type: str, resource_id: object) -> JSON:
    return {"reference": f"{resource_type}/{resource_id}"}


def patient_reference(patient_id: object) -> JSON:
    return {"reference": f"Patient/{patient_id}"}


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC (``meta.lastUpdated``, ``Flag.period``)."""
    return moment.astimezone(UTC).isoformat()


def meta(last_updated: datetime) -> JSON:
    return {"lastUpdated": instant(last_updated)}


def fhir_date(day: date) -> str:
    return day.isoformat()


def number(value: Decimal | int | float) -> int | float:
    """A JSON number for a FHIR decimal: integral values without a fraction."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def ucum(value: Decimal | int | float, unit: str, code: str | None = None) -> JSON:
    return {"value": number(value), "unit": unit, "system": UCUM, "code": code or unit}


def canonical(path: str) -> str:
    """A URL under our canonical base: identifier systems and extensions."""
    return f"{settings.FHIR_CANONICAL_BASE_URL}/{path}"


def mrn_system(clinic_id: int) -> str:
    """Each clinic numbers its own patients, so each has its own MRN identifier system."""
    return canonical(f"sid/clinic/{clinic_id}/mrn")


def uuid_identifier(value: object) -> JSON:
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{value}"}


def laterality_extension(side: str) -> JSON:
    """The side of a body site. R4's bodySite is one concept; we carry the side in one extension
    everywhere (clinical-reference §6, "pick one pattern everywhere")."""
    return {"url": canonical("StructureDefinition/laterality"), "valueCodeableConcept": concept(LATERALITY, side)}


def sided_concept(vocabulary: Vocabulary, word: str, side: str | None) -> JSON:
    """A site's concept, with its laterality extension when it has a side."""
    base = concept(vocabulary, word)
    if side not in ("left", "right", "bilateral"):
        return base
    return {"extension": [laterality_extension(side)], **base}
