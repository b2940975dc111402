from rest_framework.pagination import PageNumberPagination


class PageNumberWithSizePagination(PageNumberPagination):
    """``?page=`` and, up to 100, ``?page_size=``."""

    page_size_query_param = "page_size"
    max_page_size = 100
