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

# Body regions a patient marks on a body map. Site codes are SNOMED CT body structures verified
# in DICOM CID 4 / CID 4031 [DCM4] [DCM4031]; the side is a separate laterality qualifier.
_SIDED_SITES = [
    ("shoulder", "shoulder", "16982005", "Shoulder"),
    ("upper_arm", "upper arm", "40983000", "Upper arm"),
    ("elbow", "elbow", "16953009", "Elbow joint"),
    ("forearm", "forearm", "14975008", "Forearm"),
    ("wrist", "wrist", "74670003", "Wrist joint"),
    ("hand", "hand", "85562004", "Hand"),
    ("thumb", "thumb", "76505004", "Thumb"),
    ("fingers", "fingers", "7569003", "Finger"),
    ("hip", "hip", "29836001", "Hip"),
    ("thigh", "thigh", "68367000", "Thigh"),
    ("knee", "knee", "72696002", "Knee"),
    ("calf", "calf", "30021000", "Lower leg"),
    ("ankle", "ankle", "70258002", "Ankle joint"),
    ("foot", "foot", "56459004", "Foot"),
    ("toes", "toes", "29707007", "Toe"),
]
_LIMB_OF_SITE = {
    **dict.fromkeys(["shoulder", "upper_arm", "elbow", "forearm", "wrist", "hand", "thumb", "fingers"], "upper"),
    **dict.fromkeys(["hip", "thigh", "knee", "calf", "ankle", "foot", "toes"], "lower"),
}

BODY_REGIONS = Vocabulary(
    "body-region",
    "Body regions",
    [
        *(
            Word(
                f"{side}_{site}",
                f"{side.capitalize()} {label}",
                (Coding(SNOMED, code, display),),
                {"site": site, "laterality": side, "limb": _LIMB_OF_SITE[site]},
            )
            for side in ("left", "right")
            for site, label, code, display in _SIDED_SITES
        ),
        Word("trunk", "Trunk or back", (Coding(SNOMED, "22943007", "Trunk"),), {"site": "trunk", "limb": "axial"}),
        Word("neck", "Neck", (Coding(SNOMED, "45048000", "Neck"),), {"site": "neck", "limb": "axial"}),
    ],
    description="Where the spasm or stiffness was felt. Site codes are SNOMED CT; the side is a laterality qualifier.",
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

# Muscles for botulinum toxin injection (clinical-reference §4). SNOMED CT only where DICOM CID
# 6116 lists it [DCM6116]; otherwise the ISO/IEEE 11073 MDC code of DICOM CID 3031 [DCM3031],
# whose left and right codes are the base + 1 and + 2 (``mdc_base``). MDC codes were made for
# electrode sites, so they are secondary codings; flexor hallucis longus has neither.
_MUSCLES = [
    # name, label, limb, SNOMED CT (verified) or "", MDC base or 0
    ("pectoralis_major", "Pectoralis major", "upper", "60005003", 459284),
    ("latissimus_dorsi", "Latissimus dorsi", "upper", "15665001", 459192),
    ("teres_major", "Teres major", "upper", "1193009", 459372),
    ("subscapularis", "Subscapularis", "upper", "90588001", 459376),
    ("deltoid", "Deltoid", "upper", "35259002", 459356),
    ("biceps_brachii", "Biceps brachii", "upper", "", 459380),
    ("brachialis", "Brachialis", "upper", "", 459384),
    ("brachioradialis", "Brachioradialis", "upper", "", 459444),
    ("triceps_brachii", "Triceps brachii", "upper", "", 459392),
    ("pronator_teres", "Pronator teres", "upper", "", 459412),
    ("pronator_quadratus", "Pronator quadratus", "upper", "", 459440),
    ("flexor_carpi_radialis", "Flexor carpi radialis", "upper", "", 459416),
    ("flexor_carpi_ulnaris", "Flexor carpi ulnaris", "upper", "", 459424),
    ("flexor_digitorum_superficialis", "Flexor digitorum superficialis", "upper", "", 459428),
    ("flexor_digitorum_profundus", "Flexor digitorum profundus", "upper", "", 459432),
    ("flexor_pollicis_longus", "Flexor pollicis longus", "upper", "", 459436),
    ("adductor_pollicis", "Adductor pollicis", "upper", "", 459504),
    ("iliopsoas", "Iliopsoas", "lower", "", 459544),
    ("rectus_femoris", "Rectus femoris", "lower", "", 459588),
    ("adductor_longus", "Adductor longus", "lower", "", 459608),
    ("adductor_brevis", "Adductor brevis", "lower", "", 459612),
    ("adductor_magnus", "Adductor magnus", "lower", "", 459616),
    ("gracilis", "Gracilis", "lower", "", 459620),
    ("biceps_femoris", "Biceps femoris (hamstring)", "lower", "", 459624),
    ("semitendinosus", "Semitendinosus (hamstring)", "lower", "", 459636),
    ("semimembranosus", "Semimembranosus (hamstring)", "lower", "", 459640),
    ("gastrocnemius", "Gastrocnemius", "lower", "", 459672),
    ("gastrocnemius_lateral_head", "Gastrocnemius, lateral head", "lower", "", 459676),
    ("gastrocnemius_medial_head", "Gastrocnemius, medial head", "lower", "", 459680),
    ("soleus", "Soleus", "lower", "", 459684),
    ("tibialis_posterior", "Tibialis posterior", "lower", "", 459696),
    ("flexor_digitorum_longus", "Flexor digitorum longus", "lower", "", 459700),
    ("flexor_hallucis_longus", "Flexor hallucis longus", "lower", "", 0),
]
MUSCLES = Vocabulary(
    "muscle",
    "Muscles",
    [
        Word(
            name,
            label,
            (Coding(SNOMED, snomed, label),) if snomed else (),
            {"limb": limb, "mdc_base": mdc_base or None},
        )
        for name, label, limb, snomed, mdc_base in _MUSCLES
    ],
    description="Injected muscles. SNOMED CT where verified; else MDC (left = base + 1, right = base + 2).",
)


def muscle_mdc_code(muscle: str, side: str) -> str | None:
    """The MDC code of a muscle on one side [DCM3031], if it has one."""
    base = MUSCLES[muscle].attrs["mdc_base"]
    if base is None or side not in ("left", "right"):
        return None
    return str(base + (1 if side == "left" else 2))


# Botulinum toxin products (§3.4). Units are product-specific and never converted [DYS] [MYO].
# Limits: max_units_per_session, per-limb maxima, min_interval_days (re-treatment), and a
# cumulative window where the label counts all sessions within it. rimabotulinumtoxinB has no
# spasticity indication, so every session needs a clinician's recorded reason.
BOTULINUM_PRODUCTS = Vocabulary(
    "botulinum-toxin-product",
    "Botulinum toxin products",
    [
        Word(
            "onabotulinumtoxinA",
            "onabotulinumtoxinA (Botox)",
            (),
            {
                "max_units_per_session": 400,
                # "400 U cumulative in a 3-month interval" [BTX] [BTXL]: three calendar months,
                # longer than the 12-week re-treatment interval, so a session 12 weeks after a
                # full one is allowed but cannot give another 400 U.
                "cumulative_months": 3,
                "min_interval_days": 84,
                "limit_source": "BTX: 400 U cumulative in a 3-month interval; re-treatment generally at least 12 weeks",
            },
        ),
        Word(
            "abobotulinumtoxinA",
            "abobotulinumtoxinA (Dysport)",
            (),
            {
                "max_units_per_session": 1500,
                "max_units_upper_limb": 1000,
                "max_units_lower_limb": 1500,
                "max_ml_per_injection_point": 1,
                "min_interval_days": 84,
                "limit_source": "DYS: upper limb up to 1000 U, lower limb up to 1500 U, at most 1500 U per session; "
                "at least 12 weeks apart; at most 1 mL per injection site",
            },
        ),
        Word(
            "incobotulinumtoxinA",
            "incobotulinumtoxinA (Xeomin)",
            (),
            {
                "max_units_per_session": 400,
                "min_interval_days": 84,
                "limit_source": "XEO: 400 U cumulative per session; no sooner than every 12 weeks",
            },
        ),
        Word(
            "rimabotulinumtoxinB",
            "rimabotulinumtoxinB (Myobloc)",
            (),
            {
                "min_interval_days": 84,
                "off_label_for_spasticity": True,
                "limit_source": "MYO: no spasticity indication; re-treatment at least 12 weeks",
            },
        ),
    ],
)

# How the needle was guided; CPT add-on codes as verified in the reference [CPT].
INJECTION_GUIDANCE = Vocabulary(
    "injection-guidance",
    "Injection guidance",
    [
        Word("needle_emg", "Needle EMG", (Coding(CPT, "95874", "Needle EMG guidance"),)),
        Word(
            "electrical_stimulation",
            "Electrical stimulation",
            (Coding(CPT, "95873", "Electrical stimulation guidance"),),
        ),
        Word("ultrasound", "Ultrasound", (Coding(CPT, "76942", "Ultrasound guidance"),)),
        Word("anatomical", "Anatomical landmarks", ()),
    ],
)

THERAPY_DISCIPLINES = Vocabulary(
    "therapy-discipline",
    "Therapy disciplines",
    [_local("physical_therapy", "Physical therapy"), _local("occupational_therapy", "Occupational therapy")],
)

# What a goal is about, in the patient guide's words: better function, less pain, easier care.
GOAL_DOMAINS = Vocabulary(
    "goal-domain",
    "Goal domains",
    [
        _local("function", "Better function"),
        _local("pain", "Less pain"),
        _local("care", "Easier care"),
        _local("other", "Other"),
    ],
)

# Intrathecal baclofen concentrations on the market, mcg/mL [DRUGLIB] [NDC].
ITB_CONCENTRATIONS_MCG_PER_ML = (50, 500, 1000, 2000)
# SynchroMed II reservoirs [NSWSM]; the manufacturer's default low-reservoir alarm [NS04].
ITB_RESERVOIRS_ML = (20, 40)
ITB_DEFAULT_ALARM_ML = 2

VOCABULARIES: list[Vocabulary] = [
    STAFF_ROLES,
    DIAGNOSES,
    ADMINISTRATIVE_SEX,
    LATERALITY,
    BODY_REGIONS,
    ORAL_DRUGS,
    THERAPY_ACTIVITIES,
    ORTHOTIC_DEVICES,
    MUSCLES,
    BOTULINUM_PRODUCTS,
    INJECTION_GUIDANCE,
    THERAPY_DISCIPLINES,
    GOAL_DOMAINS,
]
