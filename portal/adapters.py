"""django-allauth hooks: partner accounts are created by staff, never by sign-up; who must
have two-factor authentication cannot switch it off."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter

from portal.middleware import mfa_required


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return False


class MFAAdapter(DefaultMFAAdapter):
    def can_delete_authenticator(self, authenticator):
        return not mfa_required(authenticator.user)
