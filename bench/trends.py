"""Trend recompute on PostgreSQL: the full nightly run, and one patient after a new entry.

    python -m bench.trends --patients 10000 --days 365

Loads the synthetic diaries first if the database has fewer patients than asked (COPY, about
80 s for 10,000 patients x 1 year) and gives every patient a year of plan events (a toxin
session every 12 weeks, a baclofen titration in three steps), then:

1. the nightly run as production does it: every patient marked stale, then one task per chunk
   of ``TREND_CHUNK_PATIENTS`` patients, taken by two worker processes (two Celery workers'
   worth on a 2-core machine): into an empty trend table, then as the next night (the workers
   run a day ahead), then that night again; with the peak memory of each worker,
   with the CPU time the workers and their PostgreSQL backends used, which does not change with
   what else runs on the machine (wall time does: the figures in the README say how busy it was);
2. one patient's recompute after a new entry (claim, aggregate, write, signals, release), for
   ``--singles`` patients, with percentiles.

The database is ``spasticity_trends_bench`` unless ``--database-url`` says otherwise.
"""

import argparse
import multiprocessing
import os
import resource
import statistics
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import setup_django
from bench.load_diaries import load

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/spasticity_trends_bench"


def _worker_init(database_url: str, days_ahead: int) -> None:
    # No parallel query: each worker's PostgreSQL backend does all of its work, so the CPU time
    # counted below is all of it. With a worker per core there is no idle core to lend anyway.
    os.environ["PGOPTIONS"] = "-c max_parallel_workers_per_gather=0"
    # Alerts the signals raise are queued for notification, as in production, not sent by the
    # worker itself (without a broker it would run each notification inline, on commit).
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    if days_ahead:
        # The next night: every patient's running week and month, and every event window still
        # open, have a new "today" and are reshaped, as they are each night in production.
        import time_machine

        time_machine.travel(datetime.now().astimezone() + timedelta(days=days_ahead), tick=True).start()
    setup_django(database_url, prepare=False)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process on this machine (PostgreSQL runs here too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_chunk(patient_ids: list[str]) -> tuple[int, float, float]:
    """One nightly task, exactly as the Celery task runs it.

    Returns (patients, peak RSS in MiB, CPU seconds of this worker and its database backend):
    the CPU time does not depend on what else the machine is running, the wall time does.
    """
    from django.db import connection

    from diary import tasks

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    before = _cpu_seconds(os.getpid()) + _cpu_seconds(backend)
    tasks.recompute_trends_for(patient_ids)
    cpu = _cpu_seconds(os.getpid()) + _cpu_seconds(backend) - before
    return len(patient_ids), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, cpu


def nightly(database_url: str, processes: int, days_ahead: int = 0) -> tuple[float, int, list[float], float]:
    from django.conf import settings
    from django.db import connections

    from diary.trends import services

    started = time.perf_counter()
    ids = [str(pk) for pk in services.trends_mark_all_stale()]
    size = settings.TREND_CHUNK_PATIENTS
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
    connections.close_all()
    with multiprocessing.get_context("spawn").Pool(processes, _worker_init, (database_url, days_ahead)) as pool:
        results = pool.map(_run_chunk, chunks, chunksize=1)
    seconds = time.perf_counter() - started
    return seconds, sum(r[0] for r in results), [r[1] for r in results], sum(r[2] for r in results)


def single_patient(count: int) -> list[float]:
    """Seconds to recompute one patient after a new entry, for ``count`` patients."""
    from clinic.models import Patient, User
    from config.celery_app import app
    from diary import services
    from diary.trends import services as trend_services

    # Without a broker the upload would run the recompute itself, on commit (the embedded mode);
    # here it goes to an in-memory queue, and the recompute is timed on its own.
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://localhost/"

    timings = []
    patients = list(Patient.objects.order_by("?")[:count])
    for patient in patients:
        if patient.user_id is None:
            patient.user = User.objects.create_user(
                username=f"bench-{patient.pk}", role=User.Role.PATIENT, clinic_id=patient.clinic_id
            )
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


def ensure_plans() -> int:
    """Give every patient a year of plan events, once: a toxin session every 12 weeks (two sites)
    and a baclofen titration in three steps. Returns the number of events."""
    from decimal import Decimal

    from clinic.models import BotulinumSession, InjectionSite, MedicationDose, MedicationRegimen, Patient, User

    if BotulinumSession.objects.exists():
        return BotulinumSession.objects.count() + MedicationDose.objects.count()
    clinic_id = Patient.objects.values_list("clinic_id", flat=True).first()
    clinician = User.objects.create_user(
        username=f"bench-dr-{uuid.uuid4().hex[:8]}", role="clinician", clinic_id=clinic_id
    )
    today = datetime.now().astimezone().date()
    sessions, sites, regimens, doses = [], [], [], []
    for number, patient_id in enumerate(Patient.objects.order_by("pk").values_list("pk", flat=True)):
        first = today - timedelta(days=360 - number % 84)
        for k in range(5):
            day = first + timedelta(weeks=12 * k)
            if day > today:
                break
            session = BotulinumSession(
                patient_id=patient_id,
                injected_on=day,
                product="onabotulinumtoxinA",
                lot="B1",
                guidance="ultrasound",
                clinician=clinician,
                created_by=clinician,
            )
            sessions.append(session)
            sites += [
                InjectionSite(session=session, muscle="gastrocnemius_medial_head", side="left", units=Decimal(100)),
                InjectionSite(session=session, muscle="soleus", side="left", units=Decimal(75)),
            ]
        regimen = MedicationRegimen(patient_id=patient_id, drug="baclofen", created_by=clinician)
        regimens.append(regimen)
        doses += [
            MedicationDose(
                regimen=regimen,
                effective_from=today - timedelta(days=days),
                dose_mg=Decimal(mg),
                times_per_day=3,
                created_by=clinician,
            )
            for days, mg in ((300, 10), (200, 15), (100, 20))
        ]
    BotulinumSession.objects.bulk_create(sessions, batch_size=2000)
    InjectionSite.objects.bulk_create(sites, batch_size=2000)
    MedicationRegimen.objects.bulk_create(regimens, batch_size=2000)
    MedicationDose.objects.bulk_create(doses, batch_size=2000)
    return len(sessions) + len(doses)


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
    print(f"plan events (injections and dose changes): {ensure_plans():,}")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE diary_trendsummary, diary_trendeventcomparison")
        cursor.execute("ANALYZE")
    print(f"patients {Patient.objects.count():,}, diary entries {DiaryEntry.objects.count():,}")

    runs = [
        ("first build (empty table: every summary shaped and written)", 0),
        ("the next night (a day later: running periods and open event windows reshaped)", 1),
        ("the same night again (nothing changed)", 1),
    ]
    for label, days_ahead in runs:
        seconds, patients, rss, cpu = nightly(args.database_url, args.processes, days_ahead)
        print(
            f"{label}: {patients:,} patients in {seconds:.1f} s wall; {cpu:.1f} CPU-seconds (workers and their "
            f"database backends) = {cpu / args.processes:.1f} s on {args.processes} idle cores; "
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
