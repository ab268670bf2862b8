"""Closed vocabularies of the clinic app, each word with its label and codes.

A word is a lower_snake_case English name used in the API and stored in the database. Its
codes come from ``clinical-reference.md``: a standard code only where that reference
verifies it, otherwise a code in one of our own code systems, whose canonical URL is
``CODE_SYSTEM_BASE_URL/<code system name>`` (see ``local_system``). Code elsewhere refers to
words by name and never repeats a code string.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CPT = "http://www.ama-assn.org/go/cpt"
MDC = "urn:iso:std:iso:11073:10101"


def local_system(name: str) -> str:
    """The canonical URL of one of our own code systems."""
    return f"{settings.CODE_SYSTEM_BASE_URL.rstrip('/')}/{name}"


@dataclass(frozen=True)
class Coding:
    """A code in a code system; ``system`` is a URL, or a local code system name."""

    system: str
    code: str
    display: str

    @property
    def system_url(self) -> str:
        return self.system if ":" in self.system else local_system(self.system)

    def as_fhir(self) -> dict[str, str]:
        return {"system": self.system_url, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class Word:
    name: str
    label: str
    codings: tuple[Coding, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "codes": [c.as_fhir() for c in self.codings],
            **self.attrs,
        }


class Vocabulary:
    """An ordered, closed list of words. Every word also gets a code in our own code system."""

    def __init__(self, name: str, title: str, words: list[Word], *, description: str = "") -> None:
        self.name = name
        self.title = title
        self.description = description
        self.words: dict[str, Word] = {}
        for word in words:
            if word.name in self.words:
                raise ValueError(f"{name}: {word.name} is listed twice")
            local = Coding(name, word.name, word.label)
            self.words[word.name] = Word(word.name, word.label, (*word.codings, local), word.attrs)

    def __deepcopy__(self, memo: dict[int, Any]) -> "Vocabulary":
        # Immutable and shared: DRF deep-copies serializer fields (and their arguments) for
        # every request, and copying a vocabulary each time was most of a diary POST's cost.
        return self

    def __contains__(self, name: object) -> bool:
        return name in self.words

    def __getitem__(self, name: str) -> Word:
        return self.words[name]

    def __iter__(self) -> Iterator[Word]:
        return iter(self.words.values())

    def __len__(self) -> int:
        return len(self.words)

    @property
    def choices(self) -> list[tuple[str, str]]:
        return [(w.name, w.label) for w in self]

    def names(self) -> list[str]:
        return list(self.words)

    def in_order(self, mapping: dict[str, Any]) -> list[tuple[str, Any]]:
        """A word-keyed mapping's items in vocabulary order (JSON objects keep no order in the database)."""
        position = {name: index for index, name in enumerate(self.words)}
        return sorted(mapping.items(), key=lambda item: position.get(item[0], len(position)))

    def coding(self, name: str, system: str) -> Coding | None:
        """The word's code in ``system`` (a URL or a local code system name), if it has one."""
        return next((c for c in self.words[name].codings if c.system == system), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "system": local_system(self.name),
            "words": [w.as_json() for w in self],
        }


def _local(name: str, label: str, **attrs: Any) -> Word:
    return Word(name, label, (), attrs)


STAFF_ROLES = Vocabulary(
    "staff-role",
    "Staff roles",
    [
        _local("admin", "Clinic administrator", description="Adds staff and patients, edits clinic settings."),
        _local("clinician", "Clinician", description="Prescribes, injects, reviews diaries and alerts."),
        _local("nurse", "Nurse", description="Enrolls patients, records pump refills, handles alerts."),
        _local("therapist", "Therapist", description="Writes therapy and orthotic plans."),
    ],
)

# Diagnoses behind the spasticity (DESIGN.md). No SNOMED codes are verified in the reference.
DIAGNOSES = Vocabulary(
    "diagnosis",
    "Underlying condition",
    [
        _local("stroke", "Stroke"),
        _local("multiple_sclerosis", "Multiple sclerosis"),
        _local("spinal_cord_injury", "Spinal cord injury"),
        _local("cerebral_palsy", "Cerebral palsy"),
        _local("brain_injury", "Acquired brain injury"),
        _local("other", "Other condition"),
    ],
)

# FHIR administrative gender (http://hl7.org/fhir/administrative-gender), used as is.
ADMINISTRATIVE_SEX = Vocabulary(
    "administrative-sex",
    "Administrative sex",
    [
        Word("female", "Female", (Coding("http://hl7.org/fhir/administrative-gender", "female", "Female"),)),
        Word("male", "Male", (Coding("http://hl7.org/fhir/administrative-gender", "male", "Male"),)),
        Word("other", "Other", (Coding("http://hl7.org/fhir/administrative-gender", "other", "Other"),)),
        Word("unknown", "Unknown", (Coding("http://hl7.org/fhir/administrative-gender", "unknown", "Unknown"),)),
    ],
)

# Laterality qualifiers, SNOMED CT as verified in DICOM CID 244 [DCM2].
LATERALITY = Vocabulary(
    "laterality",
    "Side of the body",
    [
        Word("left", "Left", (Coding(SNOMED, "7771000", "Left"),)),
        Word("right", "Right", (Coding(SNOMED, "24028007", "Right"),)),
        Word("bilateral", "Both sides", (Coding(SNOMED, "51440002", "Bilateral"),)),
    ],
)

# Systemic anti-spasticity drugs. RxNorm ingredient (TTY=IN) codes only where the reference
# verifies them [RXN] [CPIC]; tizanidine and clonazepam have only our local code.
# max_daily_mg: adult label maximum total daily dose, with its source key (clinical-reference §3.2).
ORAL_DRUGS = Vocabulary(
    "antispasticity-drug",
    "Anti-spasticity medicines",
    [
        Word(
            "baclofen",
            "Baclofen",
            (Coding(RXNORM, "1292", "baclofen"),),
            {"max_daily_mg": 80, "limit_source": "DBAC: 80 mg/day (20 mg four times daily)"},
        ),
        Word(
            "tizanidine",
            "Tizanidine",
            (),
            {
                "max_daily_mg": 36,
                "max_times_per_day": 3,
                "limit_source": "DTIZ: 36 mg/day, no more than 3 doses in 24 hours",
            },
        ),
        Word(
            "dantrolene",
            "Dantrolene",
            (Coding(RXNORM, "3105", "dantrolene"),),
            {"max_daily_mg": 400, "limit_source": "DANT: 400 mg/day (100 mg four times daily)"},
        ),
        Word(
            "diazepam",
            "Diazepam",
            (Coding(RXNORM, "3322", "diazepam"),),
            {"max_daily_mg": 40, "limit_source": "DIAZ: 40 mg/day (10 mg four times daily)"},
        ),
        Word(
            "clonazepam",
            "Clonazepam",
            (),
            {"max_daily_mg": 20, "limit_source": "DCLON: 20 mg/day (seizure labeling; off-label for spasticity)"},
        ),
        Word(
            "gabapentin",
            "Gabapentin",
            (Coding(RXNORM, "25480", "gabapentin"),),
            {"max_daily_mg": 3600, "limit_source": "GABA: 3600 mg/day (off-label for spasticity)"},
        ),
    ],
)

# Therapy activities of PT and OT plans, also what patients log as done. No SNOMED procedure
# codes are verified in the reference (§5), so local codes only.
THERAPY_ACTIVITIES = Vocabulary(
    "therapy-activity",
    "Therapy activities",
    [
        _local("stretching", "Stretching"),
        _local("strengthening", "Strengthening exercise"),
        _local("task_practice", "Task practice"),
        _local("positioning", "Positioning"),
        _local("heat", "Heat"),
        _local("cold", "Cold"),
        _local("electrical_stimulation", "Electrical stimulation"),
    ],
)

# Orthoses and casts (§5: no SNOMED device codes verified; HCPCS L-codes name products, not kinds).
ORTHOTIC_DEVICES = Vocabulary(
    "orthotic-device",
    "Orthoses and splints",
    [
        _local("ankle_foot_orthosis", "Ankle-foot orthosis"),
        _local("knee_ankle_foot_orthosis", "Knee-ankle-foot orthosis"),
        _local("resting_hand_splint", "Resting hand splint"),
        _local("wrist_hand_orthosis", "Wrist-hand orthosis"),
        _local("night_splint", "Night splint"),
        _local("serial_casting", "Serial cast"),
    ],
)

VOCABULARIES: list[Vocabulary] = [
    STAFF_ROLES,
    DIAGNOSES,
    ADMINISTRATIVE_SEX,
    LATERALITY,
    ORAL_DRUGS,
    THERAPY_ACTIVITIES,
    ORTHOTIC_DEVICES,
]
