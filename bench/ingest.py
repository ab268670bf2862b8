"""Diary ingestion through the real HTTP stack: gunicorn (2 sync workers) and PostgreSQL.

    python -m bench.ingest                     # a 1,000-patient year already in the database
    python -m bench.ingest --preload-patients 10000 --preload-days 365

Measures single-entry POSTs per second and entries per second in batches of 500, with
latency percentiles, then counts the stored rows to show that none was lost. The entries are
the synthetic diaries of ``diary.synthetic`` (the generator behind ``seed_demo``).
"""

import argparse
import random
import uuid
from datetime import date, timedelta

import orjson

from bench.common import DEFAULT_DATABASE_URL, gunicorn, post_request, run_load, setup_django
from bench.load_diaries import load


def enrolled_patients(count: int) -> list[tuple[str, str]]:
    """Patients of a new clinic, each with a phone enrolled the way the app does it: (patient id, token)."""
    from clinic import services
    from clinic.models import Clinic, User
    from diary import synthetic

    clinic = Clinic.objects.create(name=f"Ingest bench {uuid.uuid4().hex[:8]}")
    nurse = User.objects.create_user(
        username=f"bench-nurse-{uuid.uuid4().hex[:8]}", clinic=clinic, role=User.Role.NURSE
    )
    rng = random.Random(11)
    patients = []
    for number in range(count):
        profile = synthetic.patient_profile(rng, 900_000 + number)
        patient = services.patient_create(actor=nurse, **profile.registration())
        code = services.enrollment_code_create(actor=nurse, patient=patient)
        patients.append((str(patient.pk), services.enrollment_redeem(code=code.secret, device_name="bench").secret))
    return patients


def generated_entries(count: int, seed: int) -> list[dict]:
    """``count`` fresh entries from the synthetic generator (new ids every run)."""
    from diary import synthetic

    rng = random.Random(seed)
    entries: list[dict] = []
    number = 0
    while len(entries) < count:
        number += 1
        profile = synthetic.patient_profile(rng, number)
        entries.extend(synthetic.diary_entries(rng, profile, date.today() - timedelta(days=300), 300))  # noqa: DTZ011
    for entry in entries:
        entry["id"] = str(uuid.uuid4())
    return entries[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--preload-patients", type=int, default=0, help="first load this many patients' diaries")
    parser.add_argument("--preload-days", type=int, default=365)
    parser.add_argument("--singles", type=int, default=12_000, help="single-entry POSTs to send")
    parser.add_argument("--batches", type=int, default=200, help="batches of 500 to send")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="a Redis database the bench may empty")
    args = parser.parse_args()

    if args.preload_patients:
        clinic_id, written = load(args.database_url, patients=args.preload_patients, days=args.preload_days)
        print(f"preloaded clinic {clinic_id}: {written:,} entries")
    setup_django(args.database_url)
    from diary.models import DiaryEntry

    print(f"diary entries in the database before: {DiaryEntry.objects.count():,}")
    patients = enrolled_patients(50)
    singles = generated_entries(args.singles, seed=1)
    batched = generated_entries(args.batches * 500, seed=2)
    single_requests = [
        post_request("/api/v1/diary/entries", patients[i % len(patients)][1], orjson.dumps(entry))
        for i, entry in enumerate(singles)
    ]
    batch_requests = [
        post_request(
            "/api/v1/diary/entries",
            patients[i % len(patients)][1],
            orjson.dumps({"entries": batched[i * 500 : (i + 1) * 500]}),
        )
        for i in range(args.batches)
    ]
    before = DiaryEntry.objects.count()
    # As in production: Redis for the throttling counters and the broker. Nothing consumes the
    # queued trend recomputes here (this measures ingestion); the queue is emptied afterwards.
    redis_env = {"REDIS_URL": args.redis_url, "CELERY_BROKER_URL": args.redis_url}
    with gunicorn(args.database_url, workers=2, **redis_env) as port:
        run_load("warm-up", port, single_requests[:200], concurrency=args.concurrency)
        single = run_load("single-entry POST", port, single_requests[200:], concurrency=args.concurrency)
        batch = run_load("batch POST (500 entries)", port, batch_requests, concurrency=4, items_per_request=500)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    stored = DiaryEntry.objects.count() - before
    sent = len(single_requests) + 500 * len(batch_requests)
    print(single.report())
    print(batch.report())
    print(f"entries sent {sent:,}, stored {stored:,}, lost {sent - stored:,}")


if __name__ == "__main__":
    main()
