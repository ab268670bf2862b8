"""Realistic synthetic patients and diaries, for the demo clinic and the benchmarks.

Deterministic for a given seed. Each patient gets a profile (condition, affected side, usual
triggers, what helps, when in the day spasms come) and a severity course that rises as a
botulinum toxin injection wears off over a 12-week cycle. Output is in the API's own shapes,
so the benchmark can post it over HTTP and the demo can pass it through the same validation.
"""

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from diary import vocabulary as v

GIVEN_NAMES = [
    "Amara",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Luis",
    "Maya",
    "Noah",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
]
FAMILY_NAMES = [
    "Adeyemi",
    "Brennan",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Gallagher",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ulrich",
    "Varga",
    "Whitaker",
    "Zhou",
]
TIME_ZONES = ["America/Toronto", "America/Chicago", "Europe/London", "Europe/Berlin", "Australia/Sydney"]
DIAGNOSES = ["stroke", "multiple_sclerosis", "spinal_cord_injury", "cerebral_palsy", "brain_injury"]

# When in the day spasms come, as weights for each local hour: mornings and evenings are worst.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 5, 8, 8, 5, 3, 3, 3, 3, 3, 4, 4, 5, 6, 7, 6, 4, 2, 1]
INJECTION_CYCLE_DAYS = 84


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
    baseline_severity: float
    entries_per_day: float
    triggers: tuple[str, ...]
    relief: dict[str, int]
    cycle_offset_days: int

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


def patient_profile(rng: random.Random, number: int) -> PatientProfile:
    """A plausible patient; ``number`` makes the MRN unique."""
    diagnosis = rng.choice(DIAGNOSES)
    age = rng.randint(8, 30) if diagnosis == "cerebral_palsy" else rng.randint(25, 85)
    triggers = tuple(rng.sample(v.TRIGGERS.names(), 4))
    relief_measures = rng.sample(v.RELIEF_MEASURES.names(), 3)
    return PatientProfile(
        mrn=f"MRN{number:07d}",
        given_name=rng.choice(GIVEN_NAMES),
        family_name=rng.choice(FAMILY_NAMES),
        birth_date=date(2026 - age, rng.randint(1, 12), rng.randint(1, 28)),
        sex=rng.choice(["female", "male"]),
        time_zone=rng.choice(TIME_ZONES),
        diagnosis=diagnosis,
        side=rng.choice(["left", "right"]),
        baseline_severity=rng.uniform(3.5, 7.0),
        entries_per_day=rng.uniform(0.6, 1.6),
        triggers=triggers,
        relief={measure: rng.randint(0, 3) for measure in relief_measures},
        cycle_offset_days=rng.randrange(INJECTION_CYCLE_DAYS),
    )


def _regions(rng: random.Random, profile: PatientProfile) -> list[str]:
    if profile.diagnosis in ("stroke", "brain_injury"):
        sites = ["calf", "foot", "ankle", "hand", "fingers", "forearm", "elbow"]
        return sorted({f"{profile.side}_{site}" for site in rng.sample(sites, rng.randint(1, 2))})
    sites = ["calf", "thigh", "knee", "ankle", "foot", "hip"]
    chosen = {f"{rng.choice(['left', 'right'])}_{site}" for site in rng.sample(sites, rng.randint(1, 3))}
    if rng.random() < 0.15:
        chosen.add("trunk")
    return sorted(chosen)


def severity_on(profile: PatientProfile, day_number: int) -> float:
    """Expected severity: lowest from weeks 2 to 8 after an injection, climbing as it wears off."""
    day_in_cycle = (day_number + profile.cycle_offset_days) % INJECTION_CYCLE_DAYS
    if day_in_cycle < 10:
        effect = day_in_cycle / 10
    elif day_in_cycle < 56:
        effect = 1.0
    else:
        effect = max(0.0, 1 - (day_in_cycle - 56) / 28)
    return profile.baseline_severity - 2.5 * effect


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


def adherence_logs(rng: random.Random, profile: PatientProfile, start: date, days: int) -> Iterator[dict[str, Any]]:
    """Daily adherence in the API's input shape: stretching most days, a night splint most nights."""
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
            "orthoses": [{"device": "night_splint", "hours": rng.choice([0, 6, 7.5, 8])}],
            "missed_doses": [{"drug": "baclofen", "doses": 1}] if rng.random() < 0.08 else [],
            "notes": "",
        }
