"""``If-Match`` on the API's versioned rows (diary entries, plan items): their ETag is a number."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.request import Request

from clinic.api.fields import WHOLE_NUMBER


def if_match_number(request: Request, what: str) -> int | None:
    """The version a client last saw, from ``If-Match: "3"`` (or ``W/"3"``); None without one."""
    header = request.headers.get("If-Match")
    if not header or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not WHOLE_NUMBER.fullmatch(tag):
        raise exceptions.ValidationError({"If-Match": [f'Send the ETag of the {what}, e.g. "3".']})
    return int(tag)


def if_match_parameter(what: str) -> OpenApiParameter:
    """``If-Match`` as the OpenAPI schema describes it."""
    return OpenApiParameter(
        "If-Match",
        str,
        OpenApiParameter.HEADER,
        description=f'The ETag of the {what} as you last read it, e.g. "3": if it changed since, 412.',
    )
