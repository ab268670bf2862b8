"""EHR clients and their tokens, bulk export jobs and their files, and stored Observation bundles."""

import uuid

from django.db import models
from django.db.models import Q

from clinic.models import Clinic, Patient


class BackendClient(models.Model):
    """An EHR registered for SMART Backend Services: it signs JWTs with a key from its JWKS.

    ``scopes`` is what the clinic allowed it (space-separated SMART system scopes); a token
    request may ask for that or less. The client sees only its own clinic's patients.
    """

    client_id = models.CharField(max_length=64, unique=True)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="backend_clients")
    name = models.CharField(max_length=200)
    jwks = models.JSONField(null=True, blank=True, help_text="The client's public keys, when given as a file.")
    jwks_url = models.URLField(blank=True, help_text="Where the client publishes its public keys.")
    scopes = models.TextField(help_text="The SMART system scopes the client may ask for, space-separated.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="backend_client_has_keys",
                condition=(Q(jwks__isnull=False) & Q(jwks_url="")) | (Q(jwks__isnull=True) & ~Q(jwks_url="")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


class UsedClientAssertion(models.Model):
    """A ``jti`` a client has used, kept until its assertion expires, so it is never accepted twice."""

    client = models.ForeignKey(BackendClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "jti"], name="client_assertion_jti_once")]

    def __str__(self) -> str:
        return f"jti {self.jti}"


class BackendAccessToken(models.Model):
    """An access token issued to a backend client; only the SHA-256 digest is stored."""

    client = models.ForeignKey(BackendClient, on_delete=models.CASCADE, related_name="tokens")
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"token of {self.client.name} until {self.expires_at:%H:%M:%S}"


class ExportJob(models.Model):
    """One Bulk Data ``$export`` request, from kick-off to its files' expiry.

    A worker claims the job by raising ``attempt`` and taking a lease it renews while it writes;
    a sweep hands a job whose lease ran out to a new attempt (its worker died) until
    ``FHIR_EXPORT_MAX_ATTEMPTS``. Files are recorded only when the whole attempt succeeded, in
    the same transaction that completes the job, so a manifest never lists a partial file.
    """

    class Level(models.TextChoices):
        SYSTEM = "system", "System"
        PATIENT = "patient", "All patients"
        GROUP = "group", "Group"

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(BackendClient, on_delete=models.PROTECT, related_name="exports")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    level = models.CharField(max_length=10, choices=Level.choices)
    group_id = models.CharField(max_length=64, blank=True)
    resource_types = models.JSONField(help_text="The resource types to export, in order.")
    since = models.DateTimeField(null=True, blank=True)
    type_filters = models.JSONField(default=list, blank=True, help_text="The _typeFilter queries, as sent.")
    ignored_parameters = models.JSONField(
        default=list, blank=True, help_text="Kick-off parameters not supported, ignored under Prefer: handling=lenient."
    )
    request_url = models.TextField(help_text="The kick-off URL, as the manifest repeats it.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    transaction_time = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the attempt that wrote the files took its snapshot: data changed after it is not in them.",
    )
    progress = models.CharField(max_length=200, blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When the files are deleted.")

    class Meta:
        indexes = [
            models.Index(fields=["client", "status"], name="export_client_status"),
            models.Index(fields=["status", "lease_until"], name="export_status_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.level} export {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.ACCEPTED, self.Status.RUNNING)


class ExportFile(models.Model):
    """One complete NDJSON file of an export: resources of one type, up to the size limit."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=40)
    part = models.PositiveIntegerField()
    path = models.CharField(max_length=500, help_text="Relative to FHIR_EXPORT_DIR.")
    count = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["resource_type", "part"]
        constraints = [models.UniqueConstraint(fields=["job", "resource_type", "part"], name="export_file_part_once")]

    def __str__(self) -> str:
        return f"{self.resource_type} part {self.part} of {self.job_id}"


class ObservationBundle(models.Model):
    """A patient's Observations of one calendar month (their local days), built by Celery.

    ``content`` is the serialized Bundle, served as is; ``fingerprint`` is a digest of what it
    was built from, so a rebuild that finds nothing changed keeps the same ETag.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="The first day of the month.")
    content = models.BinaryField()
    etag = models.CharField(max_length=64)
    entry_count = models.PositiveIntegerField()
    built_at = models.DateTimeField()
    changed_at = models.DateTimeField(help_text="When the content last changed (Last-Modified).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "month"], name="observation_bundle_once")]

    def __str__(self) -> str:
        return f"observations of {self.patient_id} in {self.month:%Y-%m}"


class SweepMark(models.Model):
    """How far a periodic job has looked at changed rows (one row per job)."""

    name = models.CharField(max_length=60, primary_key=True)
    up_to = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} up to {self.up_to}"
