"""Bearer tokens for the APIs: issued once in clear, stored as a SHA-256 hash."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from portal import events
from portal.models import OpsToken

OPS_PREFIX = "ops_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def ops_token_issue(*, name: str, by=events.OPS_TOKEN_COMMAND):
    """Create an ops token named `name`; returns (OpsToken, the token in clear, shown once).
    `by`: who issues it (`manage.py issue_ops_token` unless told)."""
    token = OPS_PREFIX + secrets.token_urlsafe(32)
    row = OpsToken.objects.create(name=name, prefix=token[:10], key_hash=hash_token(token))
    events.event_record(events.OPS_TOKEN_ISSUED, subject=row, by=by)
    return row, token


@transaction.atomic
def ops_token_revoke(*, token: OpsToken, by, now=None) -> bool:
    """Revoke `token` if it is still active; whether it was."""
    now = now or timezone.now()
    if not OpsToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        return False
    token.revoked_at = now
    events.event_record(events.OPS_TOKEN_REVOKED, subject=token, by=by, revoked_at=now)
    return True


class OpsPrincipal:
    """Who calls the ops API: a service, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, token: OpsToken):
        self.token = token

    def __str__(self):
        return f"ops token {self.token.name}"


class BearerOpsTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        # Headers are Latin-1 on the wire: any byte decodes, none is a 500.
        if not header or header[0].decode("latin-1").lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the header as: Authorization: Bearer <token>."
            )
        token = header[1].decode(errors="replace")
        if not token.startswith(OPS_PREFIX):
            return None
        row = OpsToken.objects.filter(key_hash=hash_token(token), revoked_at__isnull=True).first()
        if row is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.")
        now = timezone.now()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            OpsToken.objects.filter(pk=row.pk).update(last_used_at=now)
        return OpsPrincipal(row), row

    def authenticate_header(self, request):
        return self.keyword


class IsOpsToken(permissions.BasePermission):
    message = "This endpoint takes an ops API token."

    def has_permission(self, request, view):
        return isinstance(request.auth, OpsToken)
