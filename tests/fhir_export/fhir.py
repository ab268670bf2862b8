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
