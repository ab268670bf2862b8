"""FHIR R4 (4.0.1) export: mapping, the REST API under /fhir/, Observation bundles, Bulk Data
``$export`` and SMART Backend Services."""
