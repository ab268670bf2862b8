"""Trend recompute on PostgreSQL: the full nightly run, and one patient after a new entry.

    python -m bench.trends --patients 10000 --days 365

Loads the synthetic diaries first if the database has fewer patients than asked (COPY, about
80 s for 10,000 patients x 1 year), then:

1. the nightly run as production does it: every patient marked stale, then one task per chunk
   of ``TREND_CHUNK_PATIENTS`` patients, taken by two worker processes (two Celery workers'
   worth on a 2-core machine), first on an empty trend table and then again (the steady state,
   where nothing changed and nothing is rewritten); with the peak memory of each worker;
2. one patient's recompute after a new entry (claim, aggregate, write, signals, release), for
   ``--singles`` patients, with percentiles.

The database is ``spasticity_trends_bench`` unless ``--database-url`` says otherwise.
"""

import argparse
import multiprocessing
import resource
import statistics
import time
import uuid
from datetime import datetime, timedelta

from bench.common import setup_django
from bench.load_diaries import load

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/spasticity_trends_bench"


def _worker_init(database_url: str) -> None:
    setup_django(database_url, prepare=False)


def _run_chunk(patient_ids: list[str]) -> tuple[int, float]:
    """One nightly task, exactly as the Celery task runs it; returns (patients, peak RSS in MiB)."""
    from diary import tasks

    tasks.recompute_trends_for(patient_ids)
    return len(patient_ids), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def nightly(database_url: str, processes: int) -> tuple[float, int, list[float]]:
    from django.conf import settings
    from django.db import connections

    from diary.trends import services

    started = time.perf_counter()
    ids = [str(pk) for pk in services.trends_mark_all_stale()]
    size = settings.TREND_CHUNK_PATIENTS
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
    connections.close_all()
    with multiprocessing.get_context("spawn").Pool(processes, _worker_init, (database_url,)) as pool:
        results = pool.map(_run_chunk, chunks, chunksize=1)
    return time.perf_counter() - started, sum(n for n, _ in results), [rss for _, rss in results]


def single_patient(count: int) -> list[float]:
    """Seconds to recompute one patient after a new entry, for ``count`` patients."""
    from clinic.models import Patient, User
    from diary import services
    from diary.trends import services as trend_services

    timings = []
    patients = list(Patient.objects.order_by("?")[:count])
    for patient in patients:
        if patient.user_id is None:
            patient.user = User.objects.create_user(username=f"bench-{patient.pk}", role=User.Role.PATIENT, clinic=None)
            patient.save(update_fields=["user"])
        now = datetime.now().astimezone()
        services.record_diary_entries(
            actor=patient.user,
            patient=patient,
            entries=[
                (
                    0,
                    {
                        "id": uuid.uuid4(),
                        "occurred_at": now - timedelta(minutes=5),
                        "severity": 6,
                        "spasm_count": 3,
                        "body_regions": ["left_calf"],
                        "triggers": ["cold"],
                        "relief": {"stretching": 2},
                        "impact": {"walking": 2},
                        "red_flags": [],
                        "side_effects": [],
                        "notes": "",
                    },
                )
            ],
        )
        started = time.perf_counter()
        trend_services.trends_recompute_waiting(patient_ids=[patient.pk])
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--processes", type=int, default=2, help="worker processes for the nightly run")
    parser.add_argument("--singles", type=int, default=200, help="patients for the single-recompute timing")
    args = parser.parse_args()

    setup_django(args.database_url)
    from clinic.models import Patient
    from diary.models import DiaryEntry, TrendEventComparison, TrendSummary

    if Patient.objects.count() < args.patients:
        clinic_id, written = load(args.database_url, patients=args.patients, days=args.days)
        print(f"loaded clinic {clinic_id}: {args.patients:,} patients, {written:,} entries")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE diary_trendsummary, diary_trendeventcomparison")
        cursor.execute("ANALYZE")
    print(f"patients {Patient.objects.count():,}, diary entries {DiaryEntry.objects.count():,}")

    for label in ("nightly, first run (every summary written)", "nightly, again (nothing changed)"):
        seconds, patients, rss = nightly(args.database_url, args.processes)
        print(
            f"{label}: {patients:,} patients in {seconds:.1f} s; "
            f"worker peak memory {min(rss):.0f}-{max(rss):.0f} MiB; "
            f"summaries {TrendSummary.objects.count():,}, comparisons {TrendEventComparison.objects.count():,}"
        )

    timings = sorted(single_patient(args.singles))
    pct = lambda p: timings[min(len(timings) - 1, int(p / 100 * len(timings)))] * 1000  # noqa: E731
    print(
        f"one patient after a new entry ({len(timings)} patients): p50 {pct(50):.1f} ms, p95 {pct(95):.1f} ms, "
        f"max {timings[-1] * 1000:.1f} ms, mean {statistics.fmean(timings) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
