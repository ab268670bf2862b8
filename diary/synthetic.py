"""Realistic synthetic patients, care plans and diaries, for the demo clinic and the benchmarks.

Deterministic for a given seed. Each patient gets a profile (condition, affected side, usual
triggers, what helps, when in the day spasms come) and one main treatment whose effect the
diary shows: botulinum toxin every 12 weeks (severity lowest from weeks 2 to 8, climbing as it
wears off), an intrathecal baclofen pump, or oral medicine, with a dose increase part way
through that eases the spasms a little. Diaries and adherence logs are in the API's own input
shapes, so the benchmarks can post them over HTTP and the demo passes them through the same
validation; care plans are plain data that ``seed_demo`` records through the plan services.
"""

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from diary import vocabulary as v

# Given names by the administrative sex recorded with them, so the demo never shows a "Chloe,
# male"; names used for any sex go with "other" and "unknown".
GIVEN_NAMES = {
    "female": "Amara Chloe Elena Grace Ines Kemi Maya Olga Rosa Yuki".split(),
    "male": "Ben Dev Farid Hiro Jonas Luis Noah Pavel Tomas Yusuf".split(),
    "other": "Alex Quinn Robin Sam".split(),
    "unknown": "Alex Quinn Robin Sam".split(),
}
# Most records say female or male; a few say other or unknown, as real registers do.
SEX_WEIGHTS = {"female": 48, "male": 48, "other": 2, "unknown": 2}
FAMILY_NAMES = "Adeyemi Brennan Castillo Dubois Eriksen Fischer Gallagher Haddad Ivanova Jensen Kowalski Moreau".split()
TIME_ZONES = ["America/Toronto", "America/Chicago", "Europe/London", "Europe/Berlin", "Australia/Sydney"]
DIAGNOSES = ["stroke", "multiple_sclerosis", "spinal_cord_injury", "cerebral_palsy", "brain_injury"]

# When in the day spasms come, as weights for each local hour: mornings and evenings are worst.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 5, 8, 8, 5, 3, 3, 3, 3, 3, 4, 4, 5, 6, 7, 6, 4, 2, 1]
# Every 14 weeks: clinics re-inject every three to four months, no sooner than the labels' 12 weeks,
# and a full lower-limb session (225 U) twice within onabotulinumtoxinA's 3-month window would
# exceed its 400 U [BTX].
INJECTION_CYCLE_DAYS = 98


@dataclass(frozen=True)
class PatientProfile:
    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    sex: str
    time_zone: str
    diagnosis: str
    side: str
    treatment: str  # "botulinum", "itb" or "oral"
    baseline_severity: float
    entries_per_day: float
    triggers: tuple[str, ...]
    relief: dict[str, int]
    cycle_offset_days: int
    dose_increase_day: int

    def registration(self) -> dict[str, Any]:
        """The fields of ``POST /api/v1/patients``."""
        return {
            "mrn": self.mrn,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "time_zone": self.time_zone,
            "diagnosis": self.diagnosis,
        }

    @property
    def focal_limb(self) -> str:
        """Where focal spasticity is worst: one arm after brain damage, the legs otherwise."""
        return "upper" if self.diagnosis in ("stroke", "brain_injury") and self.side == "right" else "lower"


def patient_profile(rng: random.Random, number: int) -> PatientProfile:
    """A plausible patient; ``number`` makes the MRN unique."""
    diagnosis = rng.choice(DIAGNOSES)
    age = rng.randint(8, 30) if diagnosis == "cerebral_palsy" else rng.randint(25, 85)
    if diagnosis == "spinal_cord_injury" or (diagnosis == "multiple_sclerosis" and rng.random() < 0.3):
        treatment = "itb"
    elif diagnosis in ("stroke", "brain_injury", "cerebral_palsy") or rng.random() < 0.3:
        treatment = "botulinum"
    else:
        treatment = "oral"
    sex = rng.choices(list(SEX_WEIGHTS), weights=list(SEX_WEIGHTS.values()))[0]
    return PatientProfile(
        mrn=f"MRN{number:07d}",
        given_name=rng.choice(GIVEN_NAMES[sex]),
        family_name=rng.choice(FAMILY_NAMES),
        birth_date=date(2026 - age, rng.randint(1, 12), rng.randint(1, 28)),
        sex=sex,
        time_zone=rng.choice(TIME_ZONES),
        diagnosis=diagnosis,
        side=rng.choice(["left", "right"]),
        treatment=treatment,
        baseline_severity=rng.uniform(3.5, 7.0),
        entries_per_day=rng.uniform(0.6, 1.6),
        triggers=tuple(rng.sample(v.TRIGGERS.names(), 4)),
        relief={measure: rng.randint(0, 3) for measure in rng.sample(v.RELIEF_MEASURES.names(), 3)},
        cycle_offset_days=rng.randrange(INJECTION_CYCLE_DAYS),
        dose_increase_day=rng.randint(120, 240),
    )


def _regions(rng: random.Random, profile: PatientProfile) -> list[str]:
    if profile.focal_limb == "upper":
        sites = ["hand", "fingers", "forearm", "elbow", "wrist"]
        return sorted({f"{profile.side}_{site}" for site in rng.sample(sites, rng.randint(1, 2))})
    if profile.diagnosis in ("stroke", "brain_injury"):
        sites = ["calf", "foot", "ankle", "knee"]
        return sorted({f"{profile.side}_{site}" for site in rng.sample(sites, rng.randint(1, 2))})
    sites = ["calf", "thigh", "knee", "ankle", "foot", "hip"]
    chosen = {f"{rng.choice(['left', 'right'])}_{site}" for site in rng.sample(sites, rng.randint(1, 3))}
    if rng.random() < 0.15:
        chosen.add("trunk")
    return sorted(chosen)


def injection_days(profile: PatientProfile, days: int) -> list[int]:
    """Day numbers (from the diary's start) of the botulinum sessions, one every 14 weeks."""
    if profile.treatment != "botulinum":
        return []
    first = (INJECTION_CYCLE_DAYS - profile.cycle_offset_days) % INJECTION_CYCLE_DAYS
    return list(range(first, days, INJECTION_CYCLE_DAYS))


def severity_on(profile: PatientProfile, day_number: int) -> float:
    """Expected severity on a day of the diary, from the patient's treatment."""
    if profile.treatment == "botulinum":
        day_in_cycle = (day_number + profile.cycle_offset_days) % INJECTION_CYCLE_DAYS
        if day_in_cycle < 10:
            effect = day_in_cycle / 10
        elif day_in_cycle < 56:
            effect = 1.0
        else:
            effect = max(0.0, 1 - (day_in_cycle - 56) / 28)
        return profile.baseline_severity - 2.5 * effect
    # A dose increase eases the spasms over two weeks.
    eased = min(1.0, max(0.0, (day_number - profile.dose_increase_day) / 14))
    base = profile.baseline_severity - (1.5 if profile.treatment == "itb" else 0.0)
    return base - 1.0 * eased


def diary_entries(
    rng: random.Random,
    profile: PatientProfile,
    start: date,
    days: int,
    *,
    now: datetime | None = None,
    red_flag_rate: float = 0.0,
) -> Iterator[dict[str, Any]]:
    """Entries in the API's input shape for ``days`` days from ``start``, none after ``now``."""
    zone = ZoneInfo(profile.time_zone)
    now = now or datetime.now(UTC)
    hours = range(24)
    for day_number in range(days):
        day = start + timedelta(days=day_number)
        count = min(6, int(rng.expovariate(1 / profile.entries_per_day) + 0.5))
        mean = severity_on(profile, day_number)
        for hour in sorted(rng.choices(hours, weights=HOUR_WEIGHTS, k=count)):
            local = datetime.combine(day, time(hour, rng.randrange(60)), tzinfo=zone)
            if local > now:
                return
            severity = max(0, min(10, round(rng.gauss(mean, 1.3))))
            entry: dict[str, Any] = {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "occurred_at": local.isoformat(timespec="seconds"),
                "severity": severity,
                "spasm_count": max(0, round(rng.gauss(severity * 1.2, 2))),
                "duration_minutes": rng.choice([1, 2, 5, 5, 10, 15, 20, 30]),
                "body_regions": _regions(rng, profile),
                "triggers": sorted(rng.sample(profile.triggers, rng.randint(0, 2))),
                "relief": [
                    {"measure": measure, "helped": max(0, min(3, helped + rng.choice([-1, 0, 0, 1])))}
                    for measure, helped in profile.relief.items()
                    if rng.random() < 0.5
                ],
                "impact": {
                    "walking": min(3, severity // 3),
                    "dressing": min(3, max(0, severity // 3 - rng.randint(0, 1))),
                    "sleeping": min(3, severity // 4) if hour >= 21 or hour < 6 else 0,
                },
                "red_flags": [],
                "side_effects": ["drowsiness"] if rng.random() < 0.05 else [],
                "notes": "",
            }
            if red_flag_rate and rng.random() < red_flag_rate:
                entry["red_flags"] = [rng.choice(["sudden_tone_change", "fever", "severe_pain", "new_weakness"])]
            yield entry


# --- Care plans -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Injections:
    day: int
    product: str
    sites: tuple[tuple[str, str, Decimal, int], ...]  # muscle, side, units, points


@dataclass(frozen=True)
class Pump:
    implanted_day: int
    reservoir_ml: Decimal
    daily_dose_mcg: Decimal
    increase: tuple[int, Decimal]  # day, new daily dose
    refills: tuple[tuple[int, Decimal], ...]  # day, volume (2000 mcg/mL)


@dataclass
class CarePlan:
    """A patient's plan history as plain data; day numbers count from the diary's start."""

    medications: list[tuple[str, list[tuple[int, Decimal, int]]]] = field(default_factory=list)  # drug, steps
    injections: list[Injections] = field(default_factory=list)
    pump: Pump | None = None
    orthosis: tuple[str, str, Decimal, bool] = ("night_splint", "left", Decimal(8), True)
    goals: list[tuple[str, str, list[tuple[int, int]]]] = field(default_factory=list)  # text, domain, ratings


# Typical focal doses per muscle, in each product's own units (never converted between products).
_UPPER_SITES = [("flexor_carpi_radialis", 50, 2), ("flexor_digitorum_superficialis", 50, 2), ("biceps_brachii", 100, 3)]
_LOWER_SITES = [("gastrocnemius_medial_head", 100, 2), ("gastrocnemius_lateral_head", 50, 2), ("soleus", 75, 2)]
_DYSPORT_FACTOR = 3  # abobotulinumtoxinA doses are written about three times larger; a choice of dose, not a conversion


def care_plan(rng: random.Random, profile: PatientProfile, days: int) -> CarePlan:
    """The plan history that goes with the patient's diary (see ``severity_on``)."""
    plan = CarePlan()
    increase = profile.dose_increase_day
    if profile.treatment == "oral" or (profile.treatment == "botulinum" and rng.random() < 0.5):
        # "Start low, go slow": 5 mg three times daily, +5 mg per dose every 3 days [DBAC].
        titration = [(0, Decimal(5), 3), (3, Decimal(10), 3), (6, Decimal(15), 3)]
        later = [(increase, Decimal(20), 3)] if profile.treatment == "oral" else []
        plan.medications.append(("baclofen", titration + later))
    if profile.treatment == "oral" and rng.random() < 0.4:
        plan.medications.append(("tizanidine", [(30, Decimal(2), 3), (60, Decimal(4), 3)]))
    if profile.treatment == "botulinum":
        product = "abobotulinumtoxinA" if rng.random() < 0.25 else "onabotulinumtoxinA"
        factor = _DYSPORT_FACTOR if product == "abobotulinumtoxinA" else 1
        muscles = _UPPER_SITES if profile.focal_limb == "upper" else _LOWER_SITES
        sites = tuple((m, profile.side, Decimal(units * factor), points) for m, units, points in muscles)
        plan.injections = [Injections(day, product, sites) for day in injection_days(profile, days)]
    if profile.treatment == "itb":
        dose, raised = Decimal(rng.choice([300, 350, 400])), Decimal(rng.choice([450, 500]))
        refills, day = [], -400
        while day < days:
            refills.append((day, Decimal(20)))
            remaining = Decimal(20)
            while remaining > 4:  # refilled with 4 mL still in the reservoir, above its 2 mL alarm
                remaining -= (raised if day >= increase else dose) / 2000
                day += 1
        plan.pump = Pump(-400, Decimal(20), dose, (increase, raised), tuple(refills))
    device = (
        "resting_hand_splint" if profile.focal_limb == "upper" else rng.choice(["night_splint", "ankle_foot_orthosis"])
    )
    plan.orthosis = (device, profile.side, Decimal(8), device != "ankle_foot_orthosis")
    goal = "Open my hand to wash it" if profile.focal_limb == "upper" else "Walk to the shop without stopping"
    plan.goals = [
        (goal, "function", [(day, min(2, -1 + day // 120)) for day in range(90, days, 90)]),
        (
            "Sleep through the night without spasms",
            "pain",
            [(day, min(1, -1 + day // 150)) for day in range(90, days, 90)],
        ),
    ]
    return plan


def adherence_logs(
    rng: random.Random, profile: PatientProfile, plan: CarePlan, start: date, days: int
) -> Iterator[dict[str, Any]]:
    """Daily adherence in the API's input shape: stretching most days, the orthosis most days."""
    drugs = [drug for drug, _ in plan.medications]
    for day_number in range(days):
        if rng.random() < 0.2:
            continue  # days without a log happen
        therapy = [{"activity": "stretching", "minutes": rng.choice([0, 10, 15, 15, 20])}]
        if rng.random() < 0.4:
            therapy.append({"activity": "strengthening", "minutes": rng.choice([10, 20, 30])})
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "date": (start + timedelta(days=day_number)).isoformat(),
            "therapy": therapy,
            "orthoses": [{"device": plan.orthosis[0], "hours": rng.choice([0, 6, 7.5, 8])}],
            "missed_doses": [{"drug": drugs[0], "doses": 1}] if drugs and rng.random() < 0.08 else [],
            "notes": "",
        }
