"""Pure mapping from domain rows to FHIR R4 (4.0.1) resources, one module per resource type.

Every function takes rows the caller has already loaded (with what they need prefetched; no
query runs in here) and returns a JSON-ready dict. ``fhir.resources`` validates the output in
the tests. Resource ids are stable: a row's own UUID where it has one, otherwise a prefix that
names the source and the row's key (``sources.py`` routes an id back to its table).

Trend summaries (``diary/trends/``) map in ``observation.py`` too, as Observations with
``derivedFrom`` pointing at the diary entries they summarise; ``sources.py`` loads those
entries' ids for a whole page of summaries in one query.
"""
