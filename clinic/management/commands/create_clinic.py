"""``manage.py create_clinic "Name" --admin USERNAME``: a clinic and its first administrator.

The password comes from ``CLINIC_ADMIN_PASSWORD`` or a prompt, never from an argument (which
would end up in shell history and process lists).
"""

import getpass
import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic import services


class Command(BaseCommand):
    help = "Create a clinic and its first admin (password from CLINIC_ADMIN_PASSWORD or a prompt)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The clinic's name, e.g. 'Riverside Spasticity Clinic'.")
        parser.add_argument("--admin", required=True, metavar="USERNAME", help="Username of the first admin.")
        parser.add_argument("--email", default="", help="The admin's e-mail address.")

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("CLINIC_ADMIN_PASSWORD")
        if not password:
            if not os.isatty(0):
                raise CommandError("Set CLINIC_ADMIN_PASSWORD, or run in a terminal to be asked for it.")
            password = getpass.getpass(f"Password for {options['admin']}: ")
            if password != getpass.getpass("Again: "):
                raise CommandError("The passwords differ.")
        try:
            clinic = services.clinic_create(
                name=options["name"],
                admin_username=options["admin"],
                admin_password=password,
                admin_email=options["email"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            ) from exc
        self.stdout.write(f"Created clinic {clinic.pk} ({clinic.name}) with admin {options['admin']}.")
