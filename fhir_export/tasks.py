"""Celery tasks of the FHIR export: thin wrappers that take ids and call one function."""

from celery import shared_task
from django.conf import settings

from fhir_export import bulk, bundles


@shared_task(
    acks_late=True,
    soft_time_limit=settings.FHIR_EXPORT_TIME_LIMIT_SECONDS,
    time_limit=settings.FHIR_EXPORT_TIME_LIMIT_SECONDS + 60,
)
def run_export(job_id: str) -> str:
    """Write a bulk export's files; safe to run twice (the claim lets one attempt own the job)."""
    return bulk.export_run(job_id=job_id)


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def delete_export_files(job_id: str) -> None:
    """Delete a cancelled export's files."""
    bulk.export_files_delete(job_id=job_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_exports() -> int:
    """Hand exports whose worker died (or whose task never left) to a new attempt."""
    job_ids = bulk.exports_to_rerun()
    for job_id in job_ids:
        run_export.delay(str(job_id))
    return len(job_ids)


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def expire_exports() -> int:
    """Delete export files past FHIR_EXPORT_RETENTION_HOURS."""
    return bulk.exports_expire()


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def build_observation_bundle(patient_id: str, month: str) -> bool:
    """Build one patient's Observation bundle for one month; unchanged content keeps its ETag."""
    return bundles.observation_bundle_build(patient_id=patient_id, month=month)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def rebuild_changed_bundles() -> int:
    """Enqueue bundles whose diary entries or logs changed and have been quiet for the debounce time."""
    months = bundles.months_changed()
    for patient_id, month in months:
        build_observation_bundle.delay(str(patient_id), month.isoformat())
    return len(months)


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def rebuild_recent_bundles() -> int:
    """Nightly: rebuild this and last month's bundles of every active patient (statuses move with time)."""
    months = bundles.months_recent()
    for patient_id, month in months:
        build_observation_bundle.delay(str(patient_id), month.isoformat())
    return len(months)
