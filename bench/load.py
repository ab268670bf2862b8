"""A mixed load: phones posting diaries, the dashboard reading, an EHR searching FHIR, while a
bulk export runs. gunicorn (2 sync workers), PostgreSQL, Redis and a real Celery worker; wrk
drives the load over loopback, for a bounded time.

    apt-get install -y wrk            # once; Debian's package
    python -m bench.load --seconds 60

Prints throughput, p50/p95/p99 and errors per kind of client, how the export went, and counts
the stored diary entries afterwards against the 201s the phones received (none may be lost).
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import (
    DEFAULT_DATABASE_URL,
    ROOT,
    bench_env,
    free_port,
    gunicorn,
    recreate_database,
    setup_django,
)
from bench.export import access_token, ehr_client

BENCH_DATABASE_URL = DEFAULT_DATABASE_URL.rsplit("/", 1)[0] + "/spasticity_load_bench"
BROKER_URL = "redis://127.0.0.1:6379/13"
PASSWORD = "load bench passphrase"  # noqa: S105  a throwaway account in the bench database

# Shared by the three scripts: count statuses per thread, report percentiles once at the end.
LUA_REPORT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do merged[tostring(status)] = (merged[tostring(status)] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, string.format('"%s": %d', status, n)) end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, '
    .. '"connect_errors": %d, "read_errors": %d, "timeouts": %d, "statuses": {%s}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, summary.errors.connect, summary.errors.read, summary.errors.timeout,
    table.concat(parts, ", ")))
end
"""

# Each phone request is a fresh diary entry (a new id every time) from one of the enrolled phones.
LUA_POST = """
local tokens = {%(tokens)s}
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
local function uuid4()
  return (string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function (c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%%x", v)
  end))
end
function request()
  local body = string.format('{"id": "%%s", "occurred_at": "%%s", "severity": %%d, "spasm_count": %%d, '
    .. '"body_regions": ["left_calf"], "triggers": ["cold"], "relief": [{"measure": "stretching", "helped": 2}], '
    .. '"impact": {"walking": 1}}', uuid4(), os.date("!%%Y-%%m-%%dT%%H:%%M:%%S+00:00", os.time() - 3600),
    math.random(0, 10), math.random(0, 12))
  local headers = {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)], ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/api/v1/diary/entries", headers, body)
end
"""

# Dashboard and EHR clients cycle through the paths they read, with one token.
LUA_GET = """
local paths = {%(paths)s}
local token = "%(token)s"
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1], {["Authorization"] = "Bearer " .. token})
end
"""


def lua_strings(values: list[str]) -> str:
    return ", ".join(json.dumps(value) for value in values)


def prepare(patients: int) -> dict[str, object]:
    """A clinic with a year of diaries, enrolled phones, a clinician, trends, and an EHR client."""
    from bench.load_diaries import load
    from clinic import services
    from clinic.models import Patient, User

    clinic_id, entries = load(BENCH_DATABASE_URL, patients=patients, days=365)
    clinician = User.objects.create_user(
        username=f"load-clinician-{clinic_id}", password=PASSWORD, clinic_id=clinic_id, role=User.Role.CLINICIAN
    )
    nurse = User.objects.create_user(username=f"load-nurse-{clinic_id}", clinic_id=clinic_id, role=User.Role.NURSE)
    phones = []
    patient_ids = [str(p) for p in Patient.objects.filter(clinic_id=clinic_id).values_list("pk", flat=True)]
    for patient in Patient.objects.filter(clinic_id=clinic_id)[:50]:
        code = services.enrollment_code_create(actor=nurse, patient=patient)
        phones.append(services.enrollment_redeem(code=code.secret, device_name="load").secret)
    staff_token = services.staff_token_issue(username=clinician.username, password=PASSWORD).secret
    subprocess.run(  # the nightly recompute, so the dashboard reads real trends
        [sys.executable, "manage.py", "recompute_trends"],
        cwd=ROOT,
        # The alerts it raises are queued for notification (and dropped), not sent one by one.
        env=bench_env(BENCH_DATABASE_URL, CELERY_BROKER_URL="memory://localhost/"),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    client_id, key = ehr_client(clinic_id)
    return {
        "clinic_id": clinic_id,
        "entries": entries,
        "phones": phones,
        "staff_token": staff_token,
        "patient_ids": patient_ids,
        "client_id": client_id,
        "key": key,
    }


def run_wrk(name: str, script: str, port: int, seconds: int, connections: int, folder: Path) -> subprocess.Popen[str]:
    path = folder / f"{name}.lua"
    path.write_text(script + LUA_REPORT)
    return subprocess.Popen(
        [
            "wrk",
            "--threads=1",
            f"--connections={connections}",
            f"--duration={seconds}s",
            "--timeout=10s",
            f"--script={path}",
            f"http://127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def result_of(process: subprocess.Popen[str]) -> dict[str, object]:
    output, _ = process.communicate()
    line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    return json.loads(line.removeprefix("RESULT "))


def follow_export(status_url: str, token: str) -> str:
    """Poll a bulk export's status every second until it ends; describe how it ended."""
    import requests

    started = time.monotonic()
    while time.monotonic() - started < 600:
        poll = requests.get(status_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if poll.status_code != 202:
            output = poll.json().get("output", []) if poll.status_code == 200 else []
            lines = sum(item.get("count", 0) for item in output)
            return (
                f"HTTP {poll.status_code} after {time.monotonic() - started:.1f} s, "
                f"{lines:,} Observations in {len(output)} files"
            )
        time.sleep(1)
    return "still running after 600 s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--patients", type=int, default=300)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    recreate_database(BENCH_DATABASE_URL)  # each run from the same empty start
    setup_django(BENCH_DATABASE_URL)
    import redis
    import requests

    from diary.models import DiaryEntry

    ready = prepare(args.patients)
    clinic_id = ready["clinic_id"]
    before = DiaryEntry.objects.filter(patient__clinic_id=clinic_id).count()
    patient_ids = ready["patient_ids"]
    dashboard_paths = ["/api/v1/clinic/overview", "/api/v1/alerts", "/api/v1/patients?page_size=50"] + [
        f"/api/v1/patients/{pid}/trends?granularity=week" for pid in patient_ids[:40]
    ]
    fhir_paths = [f"/fhir/Observation?patient={pid}&_count=50&_total=none" for pid in patient_ids[:40]] + [
        "/fhir/Patient?_count=50",
        "/fhir/Flag?_count=50",
    ]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    export_dir = tempfile.TemporaryDirectory()
    # The server and the worker agree on the FHIR base (token audience, export links) and files.
    service_env = {
        "CELERY_BROKER_URL": BROKER_URL,
        "REDIS_URL": BROKER_URL,
        "FHIR_BASE_URL": f"{base}/fhir",
        "FHIR_EXPORT_DIR": export_dir.name,
    }
    redis.Redis.from_url(BROKER_URL).flushdb()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=1", "--loglevel=WARNING"],
        cwd=ROOT,
        env=bench_env(BENCH_DATABASE_URL, **service_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with gunicorn(BENCH_DATABASE_URL, workers=2, port=port, **service_env):
            token = access_token(f"{base}/fhir", ready["client_id"], ready["key"])
            kickoff = requests.get(
                f"{base}/fhir/$export?_type=Observation",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Prefer": "respond-async",
                    "Accept": "application/fhir+json",
                },
                timeout=30,
            )
            status_url = kickoff.headers.get("Content-Location")
            # Polled alongside the load, as an EHR would, so the export's time is its own.
            polling = ThreadPoolExecutor(max_workers=1)
            export = polling.submit(follow_export, status_url, token) if status_url else None
            with tempfile.TemporaryDirectory() as folder:
                runs = {
                    "phones: single-entry POST": run_wrk(
                        "post", LUA_POST % {"tokens": lua_strings(ready["phones"])}, port, args.seconds, 4, Path(folder)
                    ),
                    "dashboard: overview, alerts, trends": run_wrk(
                        "dashboard",
                        LUA_GET % {"paths": lua_strings(dashboard_paths), "token": ready["staff_token"]},
                        port,
                        args.seconds,
                        2,
                        Path(folder),
                    ),
                    "EHR: FHIR searches": run_wrk(
                        "fhir",
                        LUA_GET % {"paths": lua_strings(fhir_paths), "token": token},
                        port,
                        args.seconds,
                        2,
                        Path(folder),
                    ),
                }
                results = {name: result_of(process) for name, process in runs.items()}
            export_state = export.result() if export else f"not started: HTTP {kickoff.status_code}"
            polling.shutdown()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        export_dir.cleanup()
        redis.Redis.from_url(BROKER_URL).flushdb()

    stored = DiaryEntry.objects.filter(patient__clinic_id=clinic_id).count() - before
    print(f"clinic {clinic_id}: {ready['entries']:,} diary entries before the run; {args.seconds} s of load")
    print(f"{'client':38} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}  statuses")
    created = 0
    for name, result in results.items():
        statuses = result["statuses"]
        errors = sum(n for status, n in statuses.items() if int(status) >= 400)
        errors += result["connect_errors"] + result["read_errors"] + result["timeouts"]
        created += statuses.get("201", 0) if name.startswith("phones") else 0
        print(
            f"{name:38} {result['requests'] / result['seconds']:8.1f} {result['p50_ms']:8.1f} "
            f"{result['p95_ms']:8.1f} {result['p99_ms']:8.1f} {errors:7d}  {statuses}"
        )
    print(f"bulk export of the clinic's Observations during the load: {export_state}")
    # wrk stops counting at the deadline; requests still in flight then may be stored unacknowledged.
    print(
        f"entries acknowledged with 201: {created:,}; stored: {stored:,} "
        f"({max(stored - created, 0)} in flight at the end); lost: {max(created - stored, 0):,}"
    )


if __name__ == "__main__":
    main()
