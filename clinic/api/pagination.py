"""Page styles: cursors for time-ordered lists (stable while rows arrive), numbers for people."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class NewestFirstPagination(CursorPagination):
    """Newest first, by a view-chosen time column; the id breaks ties so pages never overlap."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-created_at", "-id")


class PeoplePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
