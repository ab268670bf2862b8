"""API exceptions of our own (kept apart from problems.py, which imports DRF's views)."""

from rest_framework import exceptions


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"
