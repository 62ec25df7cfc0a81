"""Two-factor authentication required: signed-in users it applies to (staff today) who
have no TOTP authenticator are sent to allauth's TOTP setup before any other page.
"""

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.module_loading import import_string


def staff_need_mfa(user):
    """The default predicate: who must have two-factor authentication (no query)."""
    return user.is_staff


def mfa_required(user) -> bool:
    """Must `user` have two-factor authentication? `PORTAL_MFA_REQUIRED_FOR` names the
    predicate (default `staff_need_mfa`)."""
    predicate = getattr(settings, "PORTAL_MFA_REQUIRED_FOR", None)
    return (import_string(predicate) if predicate else staff_need_mfa)(user)


class MFARequiredMiddleware:
    """Sends a signed-in user for whom `PORTAL_MFA_REQUIRED_FOR` (a dotted path to a
    predicate on the user; default `staff_need_mfa`) holds, and who has no TOTP
    authenticator, to `mfa_activate_totp`, except on allauth's pages (sign-in, sign-out,
    reauthentication, the MFA setup itself, the account pages), the admin's sign-out and
    the API. Costs one query per request for those users only, none for the others.
    """

    message = "Set up two-factor authentication to continue: staff pages need it."

    def __init__(self, get_response):
        self.get_response = get_response
        predicate = getattr(settings, "PORTAL_MFA_REQUIRED_FOR", None)
        self.required_for = import_string(predicate) if predicate else staff_need_mfa

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if self.exempt(request, view_func):
            return None
        user = request.user
        if not user.is_authenticated or not self.required_for(user):
            return None
        if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            return None
        messages.warning(request, self.message)
        return redirect("mfa_activate_totp")

    @staticmethod
    def exempt(request, view_func):
        # Static files never get here (WhiteNoise answers them first); the API takes
        # tokens, never the session, so a session's second factor means nothing there.
        return (
            view_func.__module__.startswith("allauth.")
            or request.path_info.startswith("/api/")
            or request.resolver_match.view_name == "admin:logout"
            or view_func.__module__.startswith("django.contrib.staticfiles")
        )
