"""One error shape for the APIs: 400 names each bad field, 409 names the conflicting ids,
413 says the body is too large."""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cascades.ingest import SignalBatchInvalid, SignalConflict
from portal.parsers import RequestBodyTooLarge


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Django's check as the body is read; left to Django it would be a 400 page.
        exc = RequestBodyTooLarge()
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, SignalBatchInvalid):
        return Response({"signals": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, SignalConflict):
        return Response(
            {
                "detail": "Signals with these ids were already received with another body.",
                "conflicting_ids": exc.ids,
            },
            status=status.HTTP_409_CONFLICT,
        )
    return exception_handler(exc, context)
