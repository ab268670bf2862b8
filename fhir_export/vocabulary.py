"""Vocabularies of the FHIR export: what our Observations measure, and FHIR's own code systems.

The measures have no verified standard code (clinical-reference §1.1: the spasticity NRS,
spasm counts, diary items and GAS are "local"), so they live in our own code system
``CODE_SYSTEM_BASE_URL/spasticity-measures``. The pain NRS (LOINC 72514-3) is not used: the
diary's pain item is a 0-3 rating of how much spasms got in the way, not a 0-10 pain score.
"""

from clinic.vocabulary import CPT, Coding, Vocabulary, Word

OBSERVATION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY_SYSTEM = "http://hl7.org/fhir/flag-priority-code"
MEDICATION_STATEMENT_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/medication-statement-category"
ROUTE_SYSTEM = "http://snomed.info/sct"
UUID_IDENTIFIER_SYSTEM = "urn:ietf:rfc:3986"


def _local(name: str, label: str, **attrs: object) -> Word:
    return Word(name, label, (), dict(attrs))


# What an Observation of ours measures (its code, or a component's code).
MEASURES = Vocabulary(
    "spasticity-measures",
    "Spasticity measures",
    [
        _local("spasticity_nrs", "Spasticity numeric rating scale 0-10 (0 none, 10 worst possible)", source="FAR"),
        _local("spasm_count", "Number of spasms in the episode"),
        _local("spasm_duration", "Duration of the spasm episode"),
        _local("body_region", "Where the spasm or stiffness was felt"),
        _local("trigger", "What set the spasms off"),
        _local("side_effect", "Medicine side effect reported"),
        _local("red_flag", "Red flag reported"),
        _local("daily_adherence", "What the patient did of their plan that day"),
        _local("gas_level", "Goal Attainment Scaling level (-2 to +2)", source="TS"),
        _local("gas_t_score", "Goal Attainment Scaling T-score", source="TS"),
        # The figures of a diary summary (a trend summary over a week or a month).
        _local("diary_entries", "Diary entries in the period"),
        _local("diary_days", "Days with diary entries in the period"),
        _local("spasticity_nrs_mean", "Mean spasticity NRS of the period's entries"),
        _local("spasticity_nrs_median", "Median spasticity NRS of the period's entries"),
        _local("spasticity_nrs_max", "Worst spasticity NRS of the period's entries"),
        _local("spasms_total", "Spasms counted in the period"),
        _local("spasms_per_day", "Spasms per day with a spasm count"),
    ],
    description=(
        "What the clinic service's Observations measure. A diary entry's relief components are "
        "coded with the relief-measure code system (value 0-3: did not help .. stopped it), its "
        "impact components with impact-domain (value 0-3: not at all .. could not do it)."
    ),
)

# FHIR's own Observation categories [OBSCAT].
OBSERVATION_CATEGORIES = Vocabulary(
    "observation-category",
    "Observation categories",
    [
        Word("survey", "Survey", (Coding(OBSERVATION_CATEGORY_SYSTEM, "survey", "Survey"),)),
        Word("activity", "Activity", (Coding(OBSERVATION_CATEGORY_SYSTEM, "activity", "Activity"),)),
    ],
)

# Routes of administration: SNOMED CT route concepts are not verified in the reference, so the
# routes are coded in our own code system only.
ROUTES = Vocabulary(
    "route",
    "Routes of administration",
    [
        _local("oral", "Oral"),
        _local("intrathecal", "Intrathecal"),
        _local("intramuscular", "Intramuscular"),
    ],
)

# Other things our resources name that have no verified standard code.
DEVICE_KINDS = Vocabulary(
    "device-kind",
    "Device kinds",
    [_local("intrathecal_pump", "Implanted intrathecal baclofen pump")],
)

PROCEDURES = Vocabulary(
    "procedure",
    "Procedures",
    [_local("botulinum_toxin_injection", "Botulinum toxin injection (chemodenervation)")],
)

ALERT_KINDS = Vocabulary(
    "alert-kind",
    "Alert kinds",
    [
        _local("red_flag", "Red flag reported"),
        _local("pump_refill_due", "Pump refill due"),
        _local("pump_dose_check", "Pump dose change to check"),
        _local("severity_worsening", "Severity worsening"),
        _local("spasms_doubled", "Spasm count doubled"),
        _local("injection_wear_off", "Injection wearing off early"),
        _local("diary_silent", "No diary entries"),
    ],
)


# Chemodenervation of extremity muscles, CPT as verified in the reference [CPT]. A session is
# coded with the code of its first extremity; the add-on codes for further extremities (64643,
# 64645) are billing lines a Procedure's single code cannot carry (README, "FHIR R4").
CHEMODENERVATION = Vocabulary(
    "chemodenervation",
    "Chemodenervation of extremity muscles",
    [
        Word(
            "one_extremity_1_to_4_muscles",
            "Chemodenervation, one extremity, 1-4 muscles",
            (Coding(CPT, "64642", "Chemodenervation, one extremity, 1-4 muscles"),),
        ),
        Word(
            "one_extremity_5_or_more_muscles",
            "Chemodenervation, one extremity, 5 or more muscles",
            (Coding(CPT, "64644", "Chemodenervation, one extremity, 5 or more muscles"),),
        ),
    ],
)
# What a diary summary Observation summarises (its code): a patient's diary over a period.
DIARY_SUMMARIES = Vocabulary(
    "diary-summary",
    "Spasm diary summaries",
    [
        _local("week", "Spasm diary summary over an ISO week (Monday to Sunday, the patient's own days)"),
        _local("month", "Spasm diary summary over a calendar month (the patient's own days)"),
    ],
)

# How mean severity moved against the previous period (a summary's interpretation); the rule is
# the trends' (README, "Trends, signals and the dashboard").
TREND_DIRECTIONS = Vocabulary(
    "trend-direction",
    "Trend directions",
    [
        _local("better", "Better: mean severity fell by the documented threshold"),
        _local("worse", "Worse: mean severity rose by the documented threshold"),
        _local("unchanged", "Unchanged: mean severity moved less than the threshold"),
        _local("not_enough_data", "Not enough diary days in this period or the previous one to compare"),
    ],
)

VOCABULARIES = [MEASURES, ROUTES, DEVICE_KINDS, PROCEDURES, ALERT_KINDS, CHEMODENERVATION]
VOCABULARIES += [DIARY_SUMMARIES, TREND_DIRECTIONS]

# How urgent an alert is, carried on a Flag in our own extension (R4's Flag has no priority).
ALERT_PRIORITIES = Vocabulary(
    "alert-priority",
    "Alert priorities",
    [_local("urgent", "Urgent"), _local("high", "High"), _local("routine", "Routine")],
)

# What our Device resources describe about an intrathecal pump.
DEVICE_PROPERTIES = Vocabulary(
    "device-property",
    "Device properties",
    [
        _local("reservoir_volume", "Reservoir volume"),
        _local("low_reservoir_alarm_volume", "Low-reservoir alarm volume"),
    ],
)
VOCABULARIES += [ALERT_PRIORITIES, DEVICE_PROPERTIES]
