"""django-allauth hooks: partner accounts are created by staff, never by sign-up."""

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return False
