"""The judge of every FHIR document in these tests: ``fhir.resources`` (R4B models, R4-compatible),
plus a check for what R4B added over R4, which its models accept and an R4 client would not."""

from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class

# Elements R4B (4.3.0) added over R4 (4.0.1) in the types we emit and every type reachable from
# them (Bundle, CapabilityStatement, OperationOutcome, Patient, Group, Observation, Flag,
# MedicationStatement, Device, Procedure, MedicationAdministration, Medication, CarePlan, Goal,
# DeviceRequest, AuditEvent, and their backbone elements and datatypes), found by comparing R4's
# definitions element by element with fhir.resources' R4B models: two new value types of
# Extension, which can appear at any depth.
R4B_ONLY = {"Extension": frozenset({"valueCodeableReference", "valueRatioRange"})}


def assert_r4_elements(value: Any, path: str = "") -> None:
    """No element R4 lacks anywhere in the document (extensions nest in every element)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("extension", "modifierExtension") and isinstance(item, list):
                for index, extension in enumerate(item):
                    added = R4B_ONLY["Extension"] & set(extension)
                    assert not added, f"{path}.{key}[{index}] uses R4B-only {sorted(added)}"
            assert_r4_elements(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_r4_elements(item, f"{path}[{index}]")


def parsed(document: dict[str, Any] | bytes | str) -> Any:
    """Parse a FHIR JSON document with the model of its resourceType (its entries and contained
    resources with theirs); raises if it is not valid R4."""
    if not isinstance(document, dict):
        document = orjson.loads(document)
    assert_r4_elements(document, document["resourceType"])
    model = get_fhir_model_class(document["resourceType"])
    return model.model_validate(document)


def valid(document: dict[str, Any]) -> dict[str, Any]:
    """The document, after checking it parses (and its contained and bundled resources too)."""
    parsed(document)
    for entry in document.get("entry", []):
        if "resource" in entry:
            parsed(entry["resource"])
    return document


def valid_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """A Bulk Data v2 completion manifest: plain JSON (no FHIR resource), with its required fields."""
    assert "resourceType" not in manifest
    assert {"transactionTime", "request", "requiresAccessToken", "output", "error"} <= set(manifest)
    for item in [*manifest["output"], *manifest["error"]]:
        assert set(item) == {"type", "url", "count"}, item
    assert {item["type"] for item in manifest["error"]} <= {"OperationOutcome"}
    return manifest


def references(value: Any, found: set[str] | None = None) -> set[str]:
    """Every literal reference in a document (not contained ``#`` ones)."""
    found = set() if found is None else found
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and not ref.startswith("#"):
            found.add(ref)
        for item in value.values():
            references(item, found)
    elif isinstance(value, list):
        for item in value:
            references(item, found)
    return found


def assert_references_resolve(bundle: dict[str, Any]) -> None:
    """Every reference in the bundle names one of its entries."""
    urls = {entry["fullUrl"].split("/fhir/", 1)[1] for entry in bundle["entry"] if "fullUrl" in entry}
    assert references([entry["resource"] for entry in bundle["entry"]]) <= urls
