"""Input no view should meet: control characters in the URL (400), a body over the limit
(413). First in MIDDLEWARE, so that no lookup, file finder or log line downstream sees it.

The API gets a JSON error body, every other page a short HTML one.
"""

from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render

from portal.limits import CONTROL_CHARACTERS
from portal.parsers import RequestBodyTooLarge

API_PREFIX = "/api/"

# What this middleware's own refusals carry, as they skip the middleware that would add
# them: a static page with no script and nothing to frame.
REFUSAL_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def body_limit(request) -> int | None:
    """The most bytes a request body may hold: DATA_UPLOAD_MAX_MEMORY_SIZE, plus room for
    one evidence file in a multipart form (Django does not count files against the
    former)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and request.content_type == "multipart/form-data":
        limit += settings.EVIDENCE_MAX_BYTES
    return limit


def refusal(request, status: int, message: str):
    if request.path.startswith(API_PREFIX):
        response = JsonResponse({"detail": message}, status=status)
    else:
        response = render(request, f"{status}.html", {"message": message}, status=status)
    for header, value in REFUSAL_HEADERS.items():
        response.headers.setdefault(header, value)
    return response


def too_large(request):
    return refusal(request, 413, RequestBodyTooLarge().detail)


class InputLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = unquote_plus(request.META.get("QUERY_STRING", ""), errors="replace")
        if CONTROL_CHARACTERS.search(request.path) or CONTROL_CHARACTERS.search(query):
            return refusal(request, 400, "The address contains control characters.")
        limit = body_limit(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # what Django makes of it too: no body
        if limit is not None and length > limit:
            return too_large(request)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # The CSRF check reads a form's fields before the view (outside process_exception's
        # reach); past the limit Django raises RequestDataTooBig there: a 400 page.
        if (
            request.method == "POST"
            and request.content_type == "multipart/form-data"
            and not getattr(view_func, "csrf_exempt", False)
        ):
            try:
                request.POST  # noqa: B018 (parsed here to answer 413)
            except RequestDataTooBig:
                return too_large(request)
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return too_large(request)
        return None
