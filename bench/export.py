"""Bulk FHIR export end to end: gunicorn, PostgreSQL, and a real Celery worker on Redis.

    python -m bench.export            # first run loads ~1.07 M and ~107 k diary entries (about a minute)
    python -m bench.export --reuse    # later runs reuse the clinics an earlier run loaded

For a small clinic (~100 k entries) and a large one (>= 1 M), an EHR client gets a token with
a signed ES384 assertion, kicks off ``/fhir/$export?_type=Observation`` through gunicorn, and
polls until the manifest appears; a fresh worker process writes each export, and its peak
resident memory (VmHWM) is read before it stops. In the same run a bare loop over the same
rows (psycopg server-side cursor -> the same Observation dict built inline -> orjson line to
a file, no Django) is the reference rate. Then search latency through gunicorn: page 1 and
page 1,000 of ``/fhir/Observation?_count=50`` over the large clinic.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import orjson

from bench.common import DEFAULT_DATABASE_URL, ROOT, bench_env, free_port, gunicorn, setup_django

BENCH_DATABASE_URL = DEFAULT_DATABASE_URL.rsplit("/", 1)[0] + "/spasticity_fhir_bench"
OUT = ROOT / "bench" / "out"


def clinic_of_size(database_url: str, label: str, patients: int, days: int, reuse: bool) -> tuple[int, int]:
    """A bench clinic with about ``patients * days`` diary entries: (clinic id, entries)."""
    from clinic.models import Clinic
    from diary.models import DiaryEntry

    name = f"FHIR export bench {label}"
    existing = Clinic.objects.filter(name__startswith=name).order_by("-pk").first() if reuse else None
    if existing is None:
        from bench.load_diaries import load

        clinic_id, _ = load(database_url, patients=patients, days=days)
        Clinic.objects.filter(pk=clinic_id).update(name=f"{name} {clinic_id}")
        from django.db import connection

        with connection.cursor() as cursor:  # the loader analyzes only the diary table
            cursor.execute("ANALYZE clinic_patient")
    else:
        clinic_id = existing.pk
    return clinic_id, DiaryEntry.objects.filter(patient__clinic_id=clinic_id).count()


def ehr_client(clinic_id: int) -> tuple[str, object]:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from clinic.models import Clinic
    from fhir_export import services

    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench"}
    client = services.backend_client_register(
        clinic=Clinic.objects.get(pk=clinic_id), name="Bench EHR", scopes="system/*.rs", jwks={"keys": [jwk]}
    )
    return client.client_id, key


def access_token(base: str, client_id: str, key: object) -> str:
    import jwt
    import requests

    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{base}/auth/token",
        "exp": now + 240,
        "jti": str(uuid.uuid4()),
    }
    assertion = jwt.encode(claims, key, algorithm="ES384", headers={"kid": "bench"})  # type: ignore[arg-type]
    response = requests.post(
        f"{base}/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": "system/*.rs",
        },
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
            "-Q",
            env["CELERY_QUEUE"],
        ],
        cwd=ROOT,
        env=env,
    )
    time.sleep(3)  # let it connect to the broker before work arrives
    return worker


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: on shared cores, a steadier measure than the wall clock."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_export(base: str, token: str, env: dict[str, str]) -> dict[str, float]:
    """Kick off, poll until the manifest, and read the worker's peak memory."""
    import requests

    headers = {"Authorization": f"Bearer {token}", "Prefer": "respond-async", "Accept": "application/fhir+json"}
    worker = start_worker(env)
    try:
        idle = peak_rss_mib(worker.pid)
        cpu_before = cpu_seconds(worker.pid)
        started = time.perf_counter()
        kickoff = requests.get(f"{base}/$export?_type=Observation", headers=headers, timeout=30)
        kickoff.raise_for_status()
        status_url = kickoff.headers["Content-Location"]
        while True:
            status = requests.get(status_url, headers=headers, timeout=30)
            if status.status_code == 200:
                break
            if status.status_code != 202:
                raise RuntimeError(f"export failed: {status.status_code} {status.text}")
            time.sleep(0.1)  # faster than Retry-After, to time the export closely
        seconds = time.perf_counter() - started
        manifest = status.json()
        peak = peak_rss_mib(worker.pid)
        cpu = cpu_seconds(worker.pid) - cpu_before
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    count = sum(o["count"] for o in manifest["output"])
    size = sum(f.stat().st_size for f in Path(env["FHIR_EXPORT_DIR"]).rglob("*.ndjson"))
    return {
        "count": count,
        "seconds": seconds,
        "rate": count / seconds,
        "peak": peak,
        "idle": idle,
        "cpu": cpu,
        "files": len(manifest["output"]),
        "bytes": size,
    }


# --- The reference: a bare loop with no Django -------------------------------------------------

BARE_SQL = """
SELECT e.id, e.patient_id, e.occurred_at, e.utc_offset_minutes, e.severity, e.spasm_count, e.duration_minutes,
       e.body_regions, e.triggers, e.relief, e.impact_walking, e.impact_dressing, e.impact_sleeping,
       e.impact_transfers, e.impact_pain, e.side_effects, e.red_flags, e.notes, e.version, e.created_at, e.updated_at
FROM diary_diaryentry e JOIN clinic_patient p ON p.id = e.patient_id
WHERE p.clinic_id = %s AND e.deleted_at IS NULL
"""


def bare_loop(database_url: str, clinic_id: int, path: Path) -> dict[str, float]:
    """The same rows to the same Observation JSON, hand-built, straight from a psycopg named cursor."""
    import psycopg
    from django.conf import settings
    from psycopg.types.json import set_json_loads
    from psycopg.types.string import TextLoader

    from clinic.vocabulary import BODY_REGIONS, LATERALITY
    from diary.vocabulary import IMPACT_DOMAINS, RED_FLAGS, RELIEF_MEASURES, SIDE_EFFECTS, TRIGGERS
    from fhir_export.vocabulary import MEASURES, OBSERVATION_CATEGORIES

    def cc(vocabulary, word):
        w = vocabulary[word]
        return {"coding": [c.as_fhir() for c in w.codings], "text": w.label}

    canonical = settings.FHIR_CANONICAL_BASE_URL
    regions = {}
    for w in BODY_REGIONS:
        value = cc(BODY_REGIONS, w.name)
        side = w.attrs.get("laterality")
        if side:
            value = {
                "extension": [
                    {"url": f"{canonical}/StructureDefinition/laterality", "valueCodeableConcept": cc(LATERALITY, side)}
                ],
                **value,
            }
        regions[w.name] = {"code": cc(MEASURES, "body_region"), "valueCodeableConcept": value}
    coded = {
        kind: {w.name: {"code": cc(MEASURES, kind), "valueCodeableConcept": cc(v, w.name)} for w in v}
        for kind, v in (("trigger", TRIGGERS), ("side_effect", SIDE_EFFECTS), ("red_flag", RED_FLAGS))
    }
    relief = {w.name: cc(RELIEF_MEASURES, w.name) for w in RELIEF_MEASURES}
    order = {name: i for i, name in enumerate(relief)}
    impact = [cc(IMPACT_DOMAINS, w.name) for w in IMPACT_DOMAINS]
    survey, nrs = cc(OBSERVATION_CATEGORIES, "survey"), cc(MEASURES, "spasticity_nrs")
    count_code, duration_code = cc(MEASURES, "spasm_count"), cc(MEASURES, "spasm_duration")
    zones: dict[int, timezone] = {}
    written = 0
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    conninfo = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(conninfo) as conn, path.open("wb", buffering=1 << 20) as out:
        # The same JSON decoder the export uses: set on the connection before the cursor is made,
        # since a cursor takes its copy of the connection's loaders when it is created.
        set_json_loads(orjson.loads, conn)
        conn.adapters.register_loader("uuid", TextLoader)  # ids as text, as the export reads them
        conn.execute("SET cursor_tuple_fraction = 1.0")  # and the same plan: every row is read
        cursor = conn.cursor(name="bare")
        cursor.itersize = 2000
        cursor.execute(BARE_SQL, [clinic_id])
        for (
            entry_id,
            patient_id,
            occurred,
            offset,
            severity,
            spasms,
            minutes,
            body,
            triggers,
            helped,
            *impacts,
            effects,
            flags,
            notes,
            version,
            created,
            updated,
        ) in cursor:
            components = []
            if spasms is not None:
                components.append({"code": count_code, "valueInteger": spasms})
            if minutes is not None:
                components.append(
                    {
                        "code": duration_code,
                        "valueQuantity": {
                            "value": minutes,
                            "unit": "min",
                            "system": "http://unitsofmeasure.org",
                            "code": "min",
                        },
                    }
                )
            components += [regions[r] for r in body]
            components += [coded["trigger"][t] for t in triggers]
            components += [
                {"code": relief[m], "valueInteger": helped[m]} for m in sorted(helped, key=order.__getitem__)
            ]
            components += [{"code": impact[i], "valueInteger": v} for i, v in enumerate(impacts) if v is not None]
            components += [coded["side_effect"][e] for e in effects]
            components += [coded["red_flag"][f] for f in flags]
            zone = zones.get(offset) or zones.setdefault(offset, timezone(timedelta(minutes=offset)))
            subject = {"reference": f"Patient/{patient_id}"}
            observation = {
                "resourceType": "Observation",
                "id": str(entry_id),
                "meta": {"lastUpdated": updated.astimezone(UTC).isoformat()},
                "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{entry_id}"}],
                "status": "amended" if version > 1 else "final",
                "category": [survey],
                "code": nrs,
                "subject": subject,
                "effectiveDateTime": occurred.astimezone(zone).isoformat(),
                "issued": created.astimezone(UTC).isoformat(),
                "performer": [subject],
                "valueInteger": severity,
            }
            if notes:
                observation["note"] = [{"text": notes}]
            if components:
                observation["component"] = components
            out.write(orjson.dumps(observation, option=orjson.OPT_APPEND_NEWLINE))
            written += 1
        cursor.close()
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime
    return {"count": written, "seconds": seconds, "rate": written / seconds, "cpu": cpu}


# --- Search latency ------------------------------------------------------------------------------


def page_token(clinic_id: int, page: int, count: int) -> str:
    """The keyset link to page ``page``, as following ``next`` that many times would give."""
    from django.db import connection

    from fhir_export.search import Cursor

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id FROM diary_diaryentry e JOIN clinic_patient p ON p.id = e.patient_id "
            "WHERE p.clinic_id = %s AND e.deleted_at IS NULL ORDER BY e.id OFFSET %s LIMIT 1",
            [clinic_id, (page - 1) * count - 1],
        )
        (last_id,) = cursor.fetchone()
    return Cursor(False, None, 0, str(last_id)).encode()


def latencies(url: str, token: str, samples: int) -> tuple[float, float, int]:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    times, entries = [], 0
    for _ in range(samples):
        started = time.perf_counter()
        response = session.get(url, timeout=60)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
        entries = len(response.json().get("entry", []))
    times.sort()
    return statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000, entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=BENCH_DATABASE_URL)
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/2")
    parser.add_argument("--large-patients", type=int, default=2800, help="x --days entries each (about 1.05 a day)")
    parser.add_argument("--small-patients", type=int, default=280)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--search-samples", type=int, default=60)
    parser.add_argument("--reuse", action="store_true", help="reuse the clinics an earlier run loaded")
    args = parser.parse_args()

    setup_django(args.database_url)
    small_id, small_entries = clinic_of_size(args.database_url, "small", args.small_patients, args.days, args.reuse)
    large_id, large_entries = clinic_of_size(args.database_url, "large", args.large_patients, args.days, args.reuse)
    print(f"clinics: small {small_id} with {small_entries:,} entries, large {large_id} with {large_entries:,}")

    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    export_dir = OUT / "exports"
    env = bench_env(
        args.database_url,
        FHIR_BASE_URL=base,
        FHIR_EXPORT_DIR=str(export_dir),
        REDIS_URL=args.cache_url,
        CELERY_BROKER_URL=args.broker_url,
        CELERY_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
    )
    os.environ.update({k: env[k] for k in ("FHIR_BASE_URL", "FHIR_EXPORT_DIR")})
    results = {}
    with gunicorn(
        args.database_url,
        workers=2,
        port=port,
        **{k: env[k] for k in ("FHIR_BASE_URL", "FHIR_EXPORT_DIR", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_QUEUE")},
    ):
        for label, clinic_id in (("small", small_id), ("large", large_id)):
            client_id, key = ehr_client(clinic_id)
            token = access_token(base, client_id, key)
            shutil.rmtree(export_dir, ignore_errors=True)
            results[label] = run_export(base, token, env)
            shutil.rmtree(export_dir, ignore_errors=True)
        OUT.mkdir(parents=True, exist_ok=True)
        bare = bare_loop(args.database_url, large_id, OUT / "bare.ndjson")
        (OUT / "bare.ndjson").unlink()
        client_id, key = ehr_client(large_id)
        token = access_token(base, client_id, key)
        first = latencies(f"{base}/Observation?_count=50", token, args.search_samples)
        deep_page = page_token(large_id, 1000, 50)
        deep = latencies(
            f"{base}/Observation?" + urlencode({"_count": 50, "_page": deep_page}), token, args.search_samples
        )
        first_bare = latencies(f"{base}/Observation?_count=50&_total=none", token, args.search_samples)
        deep_bare = latencies(
            f"{base}/Observation?" + urlencode({"_count": 50, "_total": "none", "_page": deep_page}),
            token,
            args.search_samples,
        )

    small, large = results["small"], results["large"]
    print()
    print("| measure | target | measured |")
    print("| --- | --- | --- |")
    print(
        f"| export, {large['count']:,} diary Observations (kick-off to manifest) | >= 30,000/s | "
        f"{large['rate']:,.0f}/s ({large['seconds']:.1f} s, {large['files']} files, {large['bytes'] / 2**30:.2f} GiB) |"
    )
    print(
        f"| bare loop over the same rows (psycopg cursor -> dict -> orjson) | reference | "
        f"{bare['rate']:,.0f}/s ({bare['seconds']:.1f} s) |"
    )
    print(f"| export / bare loop | >= 0.8 | {large['rate'] / bare['rate']:.2f} |")
    print(
        f"| per CPU second (worker process / bare loop process) | | {large['count'] / large['cpu']:,.0f} / "
        f"{bare['count'] / bare['cpu']:,.0f} = {(large['count'] / large['cpu']) / (bare['count'] / bare['cpu']):.2f} |"
    )
    print(f"| export, {small['count']:,} Observations | | {small['rate']:,.0f}/s ({small['seconds']:.1f} s) |")
    print(
        f"| worker peak RSS, {small['count']:,} / {large['count']:,} Observations | flat | "
        f"{small['peak']:.0f} MiB / {large['peak']:.0f} MiB (idle worker {large['idle']:.0f} MiB) |"
    )
    print(
        f"| search page 1 (_count=50, with total) | | "
        f"p50 {first[0]:.1f} ms, p95 {first[1]:.1f} ms ({first[2]} entries) |"
    )
    print(f"| search page 1,000 | = page 1 | p50 {deep[0]:.1f} ms, p95 {deep[1]:.1f} ms ({deep[2]} entries) |")
    print(f"| search page 1, _total=none | | p50 {first_bare[0]:.1f} ms, p95 {first_bare[1]:.1f} ms |")
    print(f"| search page 1,000, _total=none | = page 1 | p50 {deep_bare[0]:.1f} ms, p95 {deep_bare[1]:.1f} ms |")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"\nbench process CPU {usage.ru_utime + usage.ru_stime:.1f} s; PostgreSQL at "
        f"{urlsplit(args.database_url).hostname}; 2 shared cores: expect noise, re-run on a quiet machine."
    )


if __name__ == "__main__":
    main()
