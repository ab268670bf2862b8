"""The CapabilityStatement, generated from the tables that drive search and export."""

from importlib.metadata import version

from django.conf import settings

from fhir_export.auth import token_url
from fhir_export.mapping.common import JSON
from fhir_export.search import PARAMETERS, includes
from fhir_export.sources import RESOURCE_TYPES

BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"
SOFTWARE_VERSION = version("spasticity-clinic")  # pyproject.toml's, so the two never disagree
RELEASED = "2026-12-01"  # when this CapabilityStatement last changed


def _resource(resource_type: str) -> JSON:
    entry: JSON = {
        "type": resource_type,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalRead": "full-support",
        "searchParam": [
            {
                "name": p.name,
                "type": p.type,
                "documentation": p.documentation,
                **({"definition": p.definition} if p.definition else {}),
            }
            for p in PARAMETERS[resource_type]
        ],
    }
    if supported := includes(resource_type):
        entry["searchInclude"] = supported
    if resource_type == "Patient":
        entry["operation"] = [
            {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
            {"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/patient-export"},
        ]
    if resource_type == "Group":
        entry["operation"] = [{"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/group-export"}]
    return entry


def capability_statement() -> JSON:
    """What this server does, and nothing it does not: read and search on every exported type,
    ``$everything``, Bulk Data ``$export`` at three levels, SMART Backend Services."""
    resources = [_resource(t) for t in RESOURCE_TYPES]
    resources.append(
        {
            "type": "Bundle",
            "interaction": [{"code": "read"}],
            "documentation": "Observation bundles built ahead of time: Bundle/observations-{patient id}-{YYYY-MM}.",
            "conditionalRead": "full-support",
        }
    )
    return {
        "resourceType": "CapabilityStatement",
        "id": "spasticity-clinic",
        "status": "active",
        "date": RELEASED,
        "publisher": "Spasticity clinic service",
        "kind": "instance",
        "instantiates": [f"{BULK_DATA}/CapabilityStatement/bulk-data"],
        "software": {"name": "Spasticity clinic service", "version": SOFTWARE_VERSION},
        "implementation": {"description": "Spasticity clinic FHIR R4 API (read-only)", "url": settings.FHIR_BASE_URL},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Searches accept _count (default "
                    f"{settings.FHIR_SEARCH_DEFAULT_COUNT}, at most {settings.FHIR_SEARCH_MAX_COUNT}), "
                    "_sort=date|-date|_lastUpdated|-_lastUpdated, _include=Type:patient, _summary=count and "
                    "_total=none; pages are keyset links (next, previous). Unknown parameters are ignored, "
                    "or refused under Prefer: handling=strict. Resources carry no version (no history, no vread); "
                    "meta.lastUpdated is what _lastUpdated and $export _since compare. $export refuses parameters "
                    "it does not support unless Prefer: handling=lenient, which lists them in the manifest's error."
                ),
                "security": {
                    "cors": True,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": token_url()}],
                        }
                    ],
                    "description": (
                        "SMART Backend Services (client_credentials with a private_key_jwt assertion, RS384 or "
                        "ES384); clinic staff may also use their API bearer tokens."
                    ),
                },
                "resource": resources,
                "operation": [{"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/export"}],
            }
        ],
    }
