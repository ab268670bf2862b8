"""``manage.py recompute_trends``: recompute every patient's trends now, as the nightly run does.

A thin wrapper over the trend services, for operators and for the demo (run it after
``seed_demo`` to see trends, charts and signals at once). It works in this process, in chunks,
whether or not a broker is configured; ``--patient`` recomputes one patient.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from clinic.models import Patient
from diary.trends import services


class Command(BaseCommand):
    help = "Recompute trend summaries, before/after comparisons and signals for every patient (or one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patient", help="Only this patient id.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["patient"]:
            if services.trends_recompute_now(patient=Patient.objects.get(pk=options["patient"])):
                self.stdout.write("Recomputed 1 patient.")
            else:
                self.stdout.write(
                    "The patient is being recomputed by a worker right now; they are marked again and "
                    "will be recomputed once that run ends."
                )
            return
        ids = services.trends_mark_all_stale()
        size = settings.TREND_CHUNK_PATIENTS
        for offset in range(0, len(ids), size):
            services.trends_recompute_waiting(patient_ids=ids[offset : offset + size])
        self.stdout.write(self.style.SUCCESS(f"Recomputed {len(ids)} patients."))
