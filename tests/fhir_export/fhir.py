"""The judge of every FHIR document in these tests: ``fhir.resources`` (R4B models, R4-compatible)."""

from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class

# Elements R4B added after R4 (4.0.1); our output must not use them.
R4B_ONLY = {"Observation": {"partOf"}, "Bundle": {"issues"}}


def parsed(document: dict[str, Any] | bytes | str) -> Any:
    """Parse a FHIR JSON document with the model of its resourceType; raises if it is not valid."""
    if not isinstance(document, dict):
        document = orjson.loads(document)
    model = get_fhir_model_class(document["resourceType"])
    return model.model_validate(document)


def valid(document: dict[str, Any]) -> dict[str, Any]:
    """The document, after checking it parses (and its contained and bundled resources too)."""
    parsed(document)
    for entry in document.get("entry", []):
        if "resource" in entry:
            parsed(entry["resource"])
    return document


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
    urls = {entry["fullUrl"].split("/fhir/", 1)[1] for entry in bundle["entry"]}
    assert references([entry["resource"] for entry in bundle["entry"]]) <= urls
