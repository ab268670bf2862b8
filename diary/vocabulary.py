"""Closed vocabularies of the symptom diary, with their codes and sources.

Source keys in brackets refer to §7 of ``clinical-reference.md``. Where the reference verifies
no standard code, a word has only its code in our own code system (added by ``Vocabulary``).
"""

from clinic.vocabulary import BODY_REGIONS, Vocabulary, Word  # noqa: F401  (re-exported for the diary)


def _local(name: str, label: str, **attrs: object) -> Word:
    return Word(name, label, (), dict(attrs))


# What set the spasms off (§2.1). No SNOMED codes are verified for these, so local codes only.
TRIGGERS = Vocabulary(
    "spasm-trigger",
    "Spasm triggers",
    [
        _local("urinary_infection", "Urinary tract infection", source="MSUK MST"),
        _local("chest_infection", "Chest infection", source="MSUK"),
        _local("over_exertion", "Over-exertion or feeling hot", source="MSUK"),
        _local("heat", "Hot weather or heat", source="MSSF"),
        _local("cold", "Cold weather", source="NMSS"),
        _local("full_bladder", "Full bladder", source="MSUK NMSS"),
        _local("constipation", "Constipation or full bowel", source="MSUK NMSS"),
        _local("skin_irritation", "Skin irritation or pressure sore", source="MSUK NMSS"),
        _local("tight_clothing", "Tight clothing, straps or an ill-fitting orthosis", source="MSUK AVA"),
        _local("pain", "Pain somewhere else", source="MSUK AVA"),
        _local("poor_posture", "Poor posture or position", source="MSUK"),
        _local("stress", "Stress or anxiety", source="MSUK AVA"),
        _local("fatigue", "Tiredness", source="MSSF AVA"),
        _local("inactivity", "Not moving for a long time", source="MSSF"),
        _local("relapse", "Relapse or worsening of my condition", source="MSUK AVA"),
        _local("position_change", "Sudden movement or change of position", source="unverified"),
        _local("menstruation", "Period", source="unverified"),
    ],
)

# What eased the spasm (§2.2), rated 0-3 by how much it helped.
RELIEF_MEASURES = Vocabulary(
    "relief-measure",
    "Relief measures",
    [
        _local("stretching", "Slow stretch", source="STROT PMC15"),
        _local("weight_bearing", "Standing or weight bearing", source="STROT"),
        _local("positioning", "Changing position", source="STROT"),
        _local("splinting", "Splint or orthosis", source="STROT"),
        _local("heat", "Warmth", source="STROT PMC15"),
        _local("cold", "Cold pack", source="PMC15"),
        _local("rocking", "Slow rocking", source="STROT"),
        _local("deep_pressure", "Firm pressure on the tendon", source="STROT"),
        _local("electrical_stimulation", "Electrical stimulation", source="PMC15"),
        _local("loosen_clothing", "Loosening clothing or straps", source="MSUK"),
        _local("treat_trigger", "Dealing with the trigger (for example emptying the bladder)", source="MSUK MST"),
    ],
)

RELIEF_SCALE = {0: "Did not help", 1: "Helped a little", 2: "Helped a lot", 3: "Stopped it"}

# How much the spasms got in the way, 0-3 per domain (§2.3).
IMPACT_DOMAINS = Vocabulary(
    "impact-domain",
    "Daily activities affected",
    [
        _local("walking", "Walking or getting about", source="NHS JNNP"),
        _local("dressing", "Dressing", source="NHS"),
        _local("sleeping", "Sleeping", source="JNNP"),
        _local("transfers", "Moving between bed, chair and toilet", source="NHS"),
        _local("pain", "Pain", source="JNNP"),
    ],
)

IMPACT_SCALE = {0: "Not at all", 1: "A little", 2: "A lot", 3: "Could not do it"}

# Medicine side effects a patient can report (oral drugs cause drowsiness, low blood pressure
# and weakness; DESIGN.md, patient guide).
SIDE_EFFECTS = Vocabulary(
    "side-effect",
    "Side effects",
    [
        _local("drowsiness", "Drowsiness"),
        _local("dizziness", "Dizziness or light-headedness (low blood pressure)"),
        _local("weakness", "Muscle weakness"),
    ],
)

# Red flags (§2.4): any of them makes an urgent alert. ``context`` says for whom the sign is
# listed; apps show the pump and injection signs to the patients they concern.
RED_FLAGS = Vocabulary(
    "red-flag",
    "Red flags",
    [
        _local("sudden_tone_change", "Sudden change in stiffness", context="any", source="SEED"),
        _local("fever", "Fever", context="any", source="SEED"),
        _local("severe_pain", "Severe pain", context="any", source="SEED"),
        _local("new_weakness", "New weakness", context="any", source="SEED"),
        _local("itching", "Itching without a rash", context="itb_pump", source="NSW ITBL SMAIL"),
        _local("confusion", "Confusion", context="itb_pump", source="NSW ITBL"),
        _local("spasticity_return", "Spasms or stiffness suddenly back", context="itb_pump", source="NSW ITBL"),
        _local("racing_heart", "Racing heart", context="itb_pump", source="NSW"),
        _local("goose_bumps", "Goose bumps", context="itb_pump", source="NSW"),
        _local("hallucinations", "Seeing or hearing things", context="itb_pump", source="NSW"),
        _local("seizure", "Seizure", context="itb_pump", source="NSW HF"),
        _local("very_drowsy", "Very drowsy or hard to wake", context="itb_pump", source="HF"),
        _local("slow_breathing", "Slow or shallow breathing", context="itb_pump", source="HF"),
        _local("pump_alarm", "Pump alarm sounding", context="itb_pump", source="MDT1 GIL"),
        _local("wound_problem", "Problem with the pump wound", context="itb_pump", source="GIL"),
        _local("double_vision", "Double vision", context="botulinum_toxin", source="BTXL MYO"),
        _local("drooping_eyelids", "Drooping eyelids", context="botulinum_toxin", source="BTXL MYO"),
        _local("trouble_swallowing", "Trouble swallowing", context="botulinum_toxin", source="BTXL MYO"),
        _local("trouble_speaking", "Trouble speaking", context="botulinum_toxin", source="BTXL MYO"),
        _local("trouble_breathing", "Trouble breathing", context="botulinum_toxin", source="BTXL MYO"),
    ],
    description="Signs that need the clinic now. Every one creates an urgent alert.",
)

# Parts of the patient's local day for the time-of-day profile of trends (hours are local,
# 0-23; first_hour inclusive, last_hour inclusive).
TIME_OF_DAY = Vocabulary(
    "time-of-day",
    "Parts of the day",
    [
        _local("night", "Night (00:00-05:59)", first_hour=0, last_hour=5),
        _local("morning", "Morning (06:00-11:59)", first_hour=6, last_hour=11),
        _local("afternoon", "Afternoon (12:00-17:59)", first_hour=12, last_hour=17),
        _local("evening", "Evening (18:00-23:59)", first_hour=18, last_hour=23),
    ],
)

# Body regions are shared with care plans and live in clinic.vocabulary; imported here for the diary.
VOCABULARIES: list[Vocabulary] = [
    TRIGGERS,
    RELIEF_MEASURES,
    IMPACT_DOMAINS,
    SIDE_EFFECTS,
    RED_FLAGS,
    TIME_OF_DAY,
]
