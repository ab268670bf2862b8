from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"

    def ready(self) -> None:
        from clinic.api import schema  # noqa: F401  (registers the OpenAPI auth extension)


class ClinicAdminConfig(admin_apps.AdminConfig):
    """Django's admin on our site, whose sign-in is rate limited (``clinic.admin_site``)."""

    default = False  # named in INSTALLED_APPS; "clinic" itself is ClinicConfig

    default_site = "clinic.admin_site.ClinicAdminSite"
