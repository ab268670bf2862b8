"""``manage.py register_backend_client --clinic ID --name NAME --jwks-file F --scope "system/*.rs"``.

Registers an EHR for SMART Backend Services and prints its client_id, which the EHR puts in
the ``iss`` and ``sub`` of its client assertions. The keys are public (a JWK Set file, or the
URL where the EHR publishes them), so nothing secret passes through the command line.
"""

from pathlib import Path
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.models import Clinic
from fhir_export import services
from fhir_export.auth import token_url


class Command(BaseCommand):
    help = "Register an EHR client for SMART Backend Services and print its client_id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", required=True, type=int, help="The clinic's id (create_clinic prints it).")
        parser.add_argument("--name", required=True, help="The EHR's name, as the audit trail shows it.")
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--jwks-file", type=Path, help="A JSON Web Key Set file with the client's public keys.")
        keys.add_argument("--jwks-url", help="The URL where the client publishes its JSON Web Key Set.")
        parser.add_argument("--scope", required=True, help='SMART system scopes it may ask for, e.g. "system/*.rs".')

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(pk=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"There is no clinic {options['clinic']}.")
        jwks = None
        if options["jwks_file"] is not None:
            try:
                jwks = orjson.loads(options["jwks_file"].read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise CommandError(f"Cannot read a JWK Set from {options['jwks_file']}: {exc}") from exc
        try:
            client = services.backend_client_register(
                clinic=clinic,
                name=options["name"],
                scopes=options["scope"],
                jwks=jwks,
                jwks_url=options["jwks_url"] or "",
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
            ) from exc
        self.stdout.write(client.client_id)
        self.stderr.write(
            f"Registered {client.name} for {clinic.name} with scopes {client.scopes}. "
            f"Its client assertions must have iss = sub = the client_id above and aud = {token_url()}."
        )
