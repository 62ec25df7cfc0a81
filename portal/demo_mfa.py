"""Two-factor authentication for the demo's staff accounts, which the admin requires.

Every demo staff user (`staff@`, `ops@`, `finance@`, `risk@demo.example`) gets a TOTP
authenticator with the published secret DEMO_TOTP_SECRET, on DEBUG sites only. Sign in
with the demo password, then type the code that `python manage.py demo_totp_code EMAIL`
prints, or add the secret to any authenticator app (it is as public as the password).
"""

import time

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt, encrypt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Base32, 20 bytes, like the secrets allauth generates; published, so demo sites only.
DEMO_TOTP_SECRET = "CASCADEREWARDSDEMOSTAFFTOTP23456"  # nosec B105: published, demo only
DEMO_EMAIL_DOMAIN = "@demo.example"


def _refuse_unless_demo(user):
    if not settings.DEBUG:
        raise ImproperlyConfigured("Demo two-factor secrets are published: DEBUG=1 sites only.")
    if not user.email.endswith(DEMO_EMAIL_DOMAIN):
        raise ValueError(f"{user.email} is not a demo account ({DEMO_EMAIL_DOMAIN}).")


def demo_totp(user) -> str:
    """Give the demo staff `user` a TOTP authenticator with DEMO_TOTP_SECRET (replacing one
    it had, so the printed codes always work) and return the secret. Idempotent."""
    _refuse_unless_demo(user)
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if authenticator is None:
        TOTP.activate(user, DEMO_TOTP_SECRET)
    elif decrypt(authenticator.data["secret"]) != DEMO_TOTP_SECRET:
        # Stored the way allauth stores it: through the MFA adapter's encrypt().
        authenticator.data = {**authenticator.data, "secret": encrypt(DEMO_TOTP_SECRET)}
        authenticator.save(update_fields=["data"])
    return DEMO_TOTP_SECRET


def totp_code(secret: str, *, at: float | None = None) -> str:
    """The code an authenticator app shows for `secret` now (or at the Unix time `at`)."""
    counter = int(time.time() if at is None else at) // mfa_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def demo_totp_code(user) -> str:
    """The current code of the demo `user`'s authenticator."""
    _refuse_unless_demo(user)
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    return totp_code(decrypt(authenticator.data["secret"]))
