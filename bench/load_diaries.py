"""Load synthetic patients and diaries into the benchmark database, at any scale.

    python -m bench.load_diaries --patients 10000 --days 365

Uses the same generator as ``seed_demo`` (``diary.synthetic``) and the same derivation of
stored fields as the diary service (``diary.services.entry_fields``), but writes with
PostgreSQL COPY from two processes: posting 3.6 million entries through the API would measure
the API, which is what ``bench.ingest`` is for. Each run adds a new clinic.
"""

import argparse
import multiprocessing
import random
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from bench.common import DEFAULT_DATABASE_URL, setup_django

ENTRY_COLUMNS = [
    "id",
    "patient_id",
    "occurred_at",
    "utc_offset_minutes",
    "local_date",
    "local_hour",
    "severity",
    "spasm_count",
    "duration_minutes",
    "body_regions",
    "triggers",
    "relief",
    "impact_walking",
    "impact_dressing",
    "impact_sleeping",
    "impact_transfers",
    "impact_pain",
    "side_effects",
    "red_flags",
    "notes",
    "version",
    "created_at",
    "updated_at",
]
JSON_COLUMNS = {"body_regions", "triggers", "relief", "side_effects", "red_flags"}


def entry_row(patient_id: uuid.UUID, payload: dict[str, Any], now: datetime) -> tuple[Any, ...]:
    """A COPY row for one generated entry, derived exactly as the diary service derives it."""
    from diary.services import entry_fields

    data = {
        **payload,
        "occurred_at": datetime.fromisoformat(payload["occurred_at"]),
        "relief": {item["measure"]: item["helped"] for item in payload["relief"]},
    }
    fields = entry_fields(data)
    # Fresh ids: the content repeats for a seed, but every run adds its own clinic and rows.
    fields.update(id=uuid.uuid4(), patient_id=patient_id, version=1, created_at=now, updated_at=now)
    for name in ("impact_walking", "impact_dressing", "impact_sleeping", "impact_transfers", "impact_pain"):
        fields.setdefault(name, None)
    return tuple(orjson.dumps(fields[c]).decode() if c in JSON_COLUMNS else fields[c] for c in ENTRY_COLUMNS)


def _load_patients(args: tuple[str, list[tuple[str, int]], int, str, int]) -> int:
    """Worker process: generate and COPY the diaries of a slice of patients."""
    database_url, patients, seed, start_iso, days = args
    setup_django(database_url, prepare=False)
    from django.db import connection

    from diary import synthetic

    start = date.fromisoformat(start_iso)
    now = datetime.now().astimezone()
    written = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY diary_diaryentry ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy,
    ):
        for patient_id, number in patients:
            rng = random.Random(seed * 1_000_003 + number)
            profile = synthetic.patient_profile(rng, number)
            for payload in synthetic.diary_entries(rng, profile, start, days, now=now):
                copy.write_row(entry_row(uuid.UUID(patient_id), payload, now))
                written += 1
    return written


def load(database_url: str, *, patients: int, days: int, seed: int = 7, processes: int = 2) -> tuple[int, int]:
    """Create a clinic with ``patients`` patients and ``days`` days of diary each; return (clinic id, entries)."""
    setup_django(database_url)
    from clinic.models import Clinic, Patient
    from diary import synthetic

    clinic = Clinic.objects.create(name=f"Bench clinic {uuid.uuid4().hex[:8]}", phone="+1 555 0199")
    rows, numbers = [], []
    for number in range(1, patients + 1):
        profile = synthetic.patient_profile(random.Random(seed * 1_000_003 + number), number)
        rows.append(Patient(clinic=clinic, **profile.registration()))
        numbers.append(number)
    Patient.objects.bulk_create(rows, batch_size=2000)
    start = date.today() - timedelta(days=days - 1)  # noqa: DTZ011 (local calendar day is meant)
    work = [(str(p.pk), n) for p, n in zip(rows, numbers, strict=True)]
    slices = [work[i::processes] for i in range(processes)]
    from django.db import connections

    connections.close_all()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        written = sum(pool.map(_load_patients, [(database_url, s, seed, start.isoformat(), days) for s in slices]))
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE diary_diaryentry")
    return clinic.pk, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    clinic_id, written = load(args.database_url, patients=args.patients, days=args.days, seed=args.seed)
    seconds = time.perf_counter() - started
    print(
        f"clinic {clinic_id}: {args.patients} patients, {written:,} diary entries in {seconds:.1f} s "
        f"({written / seconds:,.0f} entries/s)"
    )


if __name__ == "__main__":
    main()
