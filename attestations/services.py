"""Signing links, signatures, verification and decisions (SPEC §4).

A link is signed (Django's TimestampSigner), expires, and is used once: the
request row is locked while the signature is written, in one transaction.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from attestations.evidence import EVIDENCE_EXTENSIONS, evidence_original_name, sniff_evidence
from attestations.models import (
    Attestation,
    Decision,
    Outcome,
    OutcomeAgreement,
    SigningRequest,
    Verification,
)
from cascades import engine
from cascades.queue import evaluation_enqueue
from cascades.structures import Structure
from portal import events

SALT = "attestations.signing-link"
CONSENT_TEXT = (
    "I confirm that I am authorised to sign for the customer, that the information above "
    "is true and complete, and that I sign it electronically."
)


class LinkProblem(Exception):
    """Why a signing link cannot be used: tampered, expired, used, revoked, or (for an
    outcome) its window closed."""

    MESSAGES = {
        "tampered": "This link is not valid. Please use the link exactly as it was emailed.",
        "expired": "This link has expired. Ask your partner program contact for a new one.",
        "used": "This link has already been used: the form was signed.",
        "revoked": "This link was withdrawn. A newer link may have been sent to you.",
        "closed": "The time to attest this outcome ended on {closes_on}: an "
        "attestation can no longer be recorded. Nothing more is needed from you.",
    }

    def __init__(self, reason, **facts):
        self.reason, self.facts = reason, facts
        shown = {k: f"{v.day} {v:%B %Y}" if v else "—" for k, v in facts.items()}
        super().__init__(self.MESSAGES[reason].format(**shown))


def outcome_window_closed(outcome, on: datetime.date) -> bool:
    """Has the outcome step's window closed by `on` (or does no step pay this outcome)? Then
    no link is sent and no attestation fires the step (SPEC §4)."""
    return outcome.window_closes_on is None or on > outcome.window_closes_on


def link_days():
    return int(settings.ATTESTATION_LINK_DAYS)


def signing_token(request: SigningRequest) -> str:
    """The signed (and timestamped) token a link carries."""
    return signing.TimestampSigner(salt=SALT).sign(str(request.token))


def signing_path(request: SigningRequest) -> str:
    return reverse("attestation_sign", args=[signing_token(request)])


def signing_url(request: SigningRequest) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + signing_path(request)


def signing_request_issue(*, agreement, outcome=None, now=None, by=None):
    """A fresh link for the agreement (or one outcome); any open one is revoked first. `by`:
    who asks (a user, an ops token, a job's name)."""
    now = now or timezone.now()
    purpose = SigningRequest.Purpose.OUTCOME if outcome else SigningRequest.Purpose.AGREEMENT
    with transaction.atomic():
        replaced = list(
            SigningRequest.objects.select_for_update().filter(
                agreement=agreement, outcome=outcome, used_at__isnull=True,
                revoked_at__isnull=True,
            )
        )  # fmt: skip
        SigningRequest.objects.filter(pk__in=[old.pk for old in replaced]).update(revoked_at=now)
        request = SigningRequest.objects.create(
            agreement=agreement,
            outcome=outcome,
            purpose=purpose,
            token=uuid.uuid4(),
            sent_to=agreement.engagement.customer.contact_email,
            created_at=now,
            expires_at=now + datetime.timedelta(days=link_days()),
        )
        partner = agreement.engagement.partner_id
        for old in replaced:
            events.event_record(
                events.SIGNING_LINK_REVOKED, subject=old, by=by, partner=partner,
                revoked_at=now, replaced_by=request.pk,
            )  # fmt: skip
        events.event_record(
            events.SIGNING_LINK_ISSUED, subject=request, by=by, partner=partner,
            purpose=purpose, agreement=agreement.pk, outcome=getattr(outcome, "pk", None),
            expires_at=request.expires_at, replaces=[old.pk for old in replaced],
        )  # fmt: skip
        transaction.on_commit(lambda: _send(request, "link"))
    return request


def _outcome_reward(structure: Structure, outcome_key, year1_acv, currency):
    """The largest reward an outcome could earn: what decides independent verification."""
    amounts = [
        engine.expected_amount(step, year1_acv, currency)
        for step in structure.steps
        if step.kind == "outcome" and step.outcome_key in (None, outcome_key)
    ]
    amounts = [a for a in amounts if a is not None]
    return max(amounts) if amounts else Decimal(0)


def _outcome_terms(structure: Structure, engagement, outcome_key, due_months):
    """What the engagement's structure says of one agreed outcome: whether it needs
    independent verification (its reward would reach the threshold, SPEC §4) and the last
    day its acceptance fires the outcome step."""
    reward = _outcome_reward(structure, outcome_key, engagement.year1_acv, engagement.currency)
    return {
        "verification_required": reward >= Decimal(settings.OUTCOME_VERIFICATION_THRESHOLD),
        "window_closes_on": engine.outcome_window_closes(
            structure, engagement.signed_at, outcome_key, due_months
        ),
    }


def engagement_outcomes_refresh(*, engagement):
    """Bring each outcome not accepted yet in line with the engagement's structure (after
    staff edit the agreement or give the engagement its own structure)."""
    structure = Structure.from_document(engagement.snapshot)
    for outcome in Outcome.objects.filter(
        agreement__engagement=engagement, accepted_on__isnull=True
    ):
        terms = _outcome_terms(structure, engagement, outcome.key, outcome.due_months)
        if any(getattr(outcome, name) != value for name, value in terms.items()):
            Outcome.objects.filter(pk=outcome.pk).update(**terms)


@transaction.atomic
def agreement_create(*, engagement, outcomes, by=None):
    """The Outcome Attestation Agreement of a deal just recorded with agreed `outcomes`
    (dicts as the ops API takes them): each outcome with its terms from the engagement's
    structure, and the link the customer signs it from (SPEC §4). None without outcomes."""
    if not outcomes:
        return None
    structure = Structure.from_document(engagement.snapshot)
    agreement = OutcomeAgreement.objects.create(engagement=engagement)
    Outcome.objects.bulk_create(
        Outcome(
            agreement=agreement,
            key=o["key"],
            title=o["title"],
            methodology=o.get("methodology", ""),
            target=o["target"],
            unit=o["unit"],
            due_months=o["due_months"],
            **_outcome_terms(structure, engagement, o["key"], o["due_months"]),
        )
        for o in outcomes
    )
    signing_request_issue(agreement=agreement, by=by)
    return agreement


@transaction.atomic
def agreement_prepare(*, agreement, by=None):
    """For an agreement staff made or edited in the admin: each outcome follows the
    engagement's structure (verification, window), and an unsigned agreement has a link
    out to the customer."""
    engagement_outcomes_refresh(engagement=agreement.engagement)
    has_link = agreement.requests.filter(
        outcome__isnull=True, used_at__isnull=True, revoked_at__isnull=True
    ).exists()
    if agreement.signed_at is None and not has_link:
        signing_request_issue(agreement=agreement, by=by)


@transaction.atomic
def signing_request_revoke(*, request, now=None, by=None) -> bool:
    """Withdraw a link not used yet; whether it was open."""
    now = now or timezone.now()
    if not SigningRequest.objects.filter(
        pk=request.pk, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now):
        return False
    request.revoked_at = now
    events.event_record(
        events.SIGNING_LINK_REVOKED, subject=request, by=by,
        partner=request.agreement.engagement.partner_id, revoked_at=now,
    )  # fmt: skip
    return True


def _send(request, kind):
    what = "sign the Outcome Attestation Agreement" if request.outcome_id is None else (
        f"attest the outcome “{request.outcome.title}”"
    )  # fmt: skip
    subject = {
        "link": "Please " + what,
        "reminder": "Reminder: please " + what,
    }[kind]
    body = (
        f"Hello,\n\n{request.agreement.engagement.partner.name} introduced your company to "
        f"our partner program. Please {what} on this one-page form (no account needed):\n\n"
        f"{signing_url(request)}\n\n"
        f"The link works once and expires on {request.expires_at:%Y-%m-%d}.\n"
    )
    send_mail(subject, body, None, [request.sent_to])


def signing_request_for(token: str, *, now=None) -> SigningRequest:
    """The request a link names, or LinkProblem saying why it cannot be used."""
    now = now or timezone.now()
    signer = signing.TimestampSigner(salt=SALT)
    try:
        value = signer.unsign(token, max_age=datetime.timedelta(days=link_days()))
    except signing.SignatureExpired:
        raise LinkProblem("expired") from None
    except signing.BadSignature:
        raise LinkProblem("tampered") from None
    request = (
        SigningRequest.objects.select_related(
            "agreement__engagement__customer", "agreement__engagement__partner", "outcome"
        )
        .filter(token=value)
        .first()
    )
    if request is None:
        raise LinkProblem("tampered")
    if request.used_at is not None:
        raise LinkProblem("used")
    if request.revoked_at is not None:
        raise LinkProblem("revoked")
    if request.expires_at <= now:
        raise LinkProblem("expired")
    if request.outcome_id and outcome_window_closed(request.outcome, timezone.localdate(now)):
        raise LinkProblem("closed", closes_on=request.outcome.window_closes_on)
    return request


def shown_content(request: SigningRequest) -> dict:
    """What the form shows for this request: the part of the signed content staff wrote."""
    engagement = request.agreement.engagement
    content = {
        "document": "Outcome Attestation Agreement"
        if request.outcome_id is None
        else "Outcome attestation",
        "engagement": engagement.external_id,
        "customer": engagement.customer.name,
        "partner": engagement.partner.name,
        "signed_at": engagement.signed_at.isoformat(),
    }
    outcomes = [request.outcome] if request.outcome_id else request.agreement.outcomes.all()
    content["outcomes"] = [
        {
            "key": o.key,
            "title": o.title,
            "methodology": o.methodology,
            "target": format(o.target.normalize(), "f"),
            "unit": o.unit,
            "due_months": o.due_months,
            "verification_required": o.verification_required,
        }
        for o in outcomes
    ]
    content["consent_text"] = CONSENT_TEXT
    return content


def content_hash(content: dict) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def attestation_sign(*, token, values, evidence=None, ip=None, user_agent="", now=None):
    """Record the signature of the request `token` names, once. `values` are the form's
    cleaned fields; `evidence` an upload or None, identified by its content here too (a
    ValidationError refuses it before anything is written)."""
    now = now or timezone.now()
    evidence_content_type = sniff_evidence(evidence) if evidence is not None else ""
    with transaction.atomic():
        request = signing_request_for(token, now=now)
        request = SigningRequest.objects.select_for_update().get(pk=request.pk)
        if request.used_at is not None:  # signed by a concurrent submission a moment ago
            raise LinkProblem("used")
        if request.revoked_at is not None:  # withdrawn by staff a moment ago
            raise LinkProblem("revoked")
        evidence_sha256 = ""
        if evidence is not None:
            digest = hashlib.sha256()
            for chunk in evidence.chunks():
                digest.update(chunk)
            evidence_sha256 = digest.hexdigest()
            evidence.seek(0)
        content = shown_content(request)
        achieved = values.get("achieved_value")
        content["signed"] = {
            "achieved_value": None if achieved is None else format(achieved.normalize(), "f"),
            "evidence_summary": values.get("evidence_summary", ""),
            "evidence_sha256": evidence_sha256,
            "signer_name": values["signer_name"],
            "signer_title": values["signer_title"],
            "signer_email": values["signer_email"],
            "consent": True,
            "typed_signature": values["typed_signature"],
            "signed_at": now.isoformat(),
        }
        attestation = Attestation(
            request=request,
            agreement=request.agreement,
            outcome=request.outcome,
            achieved_value=achieved,
            evidence_summary=values.get("evidence_summary", ""),
            evidence_sha256=evidence_sha256,
            evidence_content_type=evidence_content_type,
            evidence_original_name=evidence_original_name(getattr(evidence, "name", "")),
            signer_name=values["signer_name"],
            signer_title=values["signer_title"],
            signer_email=values["signer_email"],
            consent=True,
            typed_signature=values["typed_signature"],
            signed_at=now,
            ip_address=ip,
            user_agent=(user_agent or "")[:500],
            content=content,
            content_sha256=content_hash(content),
        )
        if evidence is not None:
            # A random name under evidence/<year>/<month>/, its extension from the content.
            stored_name = f"{uuid.uuid4().hex}.{EVIDENCE_EXTENSIONS[evidence_content_type]}"
            attestation.evidence_file.save(stored_name, evidence, save=False)
        attestation.save()
        request.used_at = now
        request.save(update_fields=["used_at"])
        # Who signed, and how, stays on the attestation: the event names it.
        signed = {"attestation": attestation.pk, "signing_request": request.pk,
                  "signed_at": now}  # fmt: skip
        partner = request.agreement.engagement.partner_id
        if request.outcome_id is None:
            agreement = request.agreement
            agreement.signed_at = now
            agreement.save(update_fields=["signed_at"])
            events.event_record(
                events.AGREEMENT_SIGNED, subject=agreement, by=events.CUSTOMER_FORM,
                partner=partner, **signed,
            )  # fmt: skip
            return attestation
        events.event_record(
            events.OUTCOME_ATTESTED, subject=attestation, by=events.CUSTOMER_FORM,
            partner=partner, **signed, outcome=request.outcome_id,
            achieved_value=achieved, evidence_file=bool(evidence_sha256),
        )  # fmt: skip
        if not request.outcome.verification_required:
            # Without verification required, an attestation is accepted when signed.
            attestation_decide(
                attestation=attestation, verdict=Decision.Verdict.ACCEPTED,
                on=timezone.localdate(now), by=events.CUSTOMER_FORM,
            )  # fmt: skip
    return attestation


@transaction.atomic
def verification_record(*, attestation, source, verified_value, note="", by=None):
    if attestation.outcome_id is None:
        raise ValidationError({"attestation": "Only outcome attestations are verified."})
    verification = Verification.objects.create(
        attestation=attestation, source=source, verified_value=verified_value, note=note,
        recorded_by=events.user_of(by),
    )  # fmt: skip
    # The note is people's text: it stays on the verification the event names.
    events.event_record(
        events.ATTESTATION_VERIFIED, subject=attestation, by=by,
        partner=attestation.agreement.engagement.partner_id, verification=verification.pk,
        outcome=attestation.outcome_id, source=source, verified_value=verified_value,
    )  # fmt: skip
    return verification


@transaction.atomic
def attestation_decide(*, attestation, verdict, on: datetime.date, reason="", by=None):
    """Accept or reject an outcome attestation; acceptance fires the outcome step with
    `on` as its trigger date. `by`: the staff user, or the job's name that decided."""
    if attestation.outcome_id is None:
        raise ValidationError({"attestation": "An agreement is signed, not accepted."})
    if Decision.objects.filter(attestation=attestation).exists():
        raise ValidationError({"verdict": "This attestation has been decided already."})
    outcome = Outcome.objects.select_for_update().get(pk=attestation.outcome_id)
    if verdict == Decision.Verdict.REJECTED and not (reason or "").strip():
        raise ValidationError({"reason": "Say why the attestation is rejected."})
    if verdict == Decision.Verdict.ACCEPTED:
        if outcome_window_closed(outcome, on):
            closed = outcome.window_closes_on
            raise ValidationError(
                {"verdict": f"The outcome step's window closed on {closed:%Y-%m-%d}: an "
                            "acceptance no longer fires it. Reject it with that reason."}
                if closed
                else {"verdict": "No step of this engagement's structure pays this outcome."}
            )  # fmt: skip
        if outcome.verification_required and not attestation.verifications.exists():
            raise ValidationError(
                {"verdict": "This outcome needs independent verification before it is accepted."}
            )
    decision = Decision.objects.create(
        attestation=attestation, verdict=verdict, decided_on=on, reason=reason,
        decided_by=events.user_of(by),
    )  # fmt: skip
    accepted = verdict == Decision.Verdict.ACCEPTED
    fires = accepted and outcome.accepted_on is None
    changed = {"outcome_accepted_on": on} if fires else {}
    if fires:
        outcome.accepted_on = on
        outcome.save(update_fields=["accepted_on"])
    # A rejection's reason is people's text: it stays on the decision the event names.
    events.event_record(
        events.ATTESTATION_ACCEPTED if accepted else events.ATTESTATION_REJECTED,
        subject=attestation, by=by, partner=attestation.agreement.engagement.partner_id,
        decision=decision.pk, outcome=outcome.pk, decided_on=on, **changed,
    )  # fmt: skip
    if fires:
        evaluation_enqueue(
            as_of=max(on, timezone.localdate()),
            engagement_ids=[attestation.agreement.engagement_id],
            requested_by="outcome accepted",
        )
    return decision


def attestations_daily(*, as_of: datetime.date, now=None):
    """Send each outcome's link when it falls due, and reminders 7 days and 1 day before a
    link expires. Safe to run twice a day."""
    from dateutil.relativedelta import relativedelta

    now = now or timezone.now()
    sent = 0
    # Each outcome gets its link once, automatically, while its window is open; staff
    # reissue expired ones.
    due = Outcome.objects.filter(
        agreement__signed_at__isnull=False,
        accepted_on__isnull=True,
        requests__isnull=True,
        window_closes_on__gte=as_of,
    ).select_related("agreement__engagement")
    for outcome in due:
        if (
            outcome.agreement.engagement.signed_at + relativedelta(months=outcome.due_months)
            <= as_of
        ):
            signing_request_issue(
                agreement=outcome.agreement, outcome=outcome, now=now, by=events.ATTESTATION_JOB
            )
            sent += 1
    open_requests = SigningRequest.objects.filter(
        Q(outcome__isnull=True) | Q(outcome__window_closes_on__gte=as_of),
        used_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now,
    ).select_related("agreement__engagement__partner", "outcome")
    for request in open_requests:
        left = request.expires_at - now
        if left <= datetime.timedelta(days=1) and request.reminded_1_day_at is None:
            field = "reminded_1_day_at"
        elif left <= datetime.timedelta(days=7) and request.reminded_7_days_at is None:
            field = "reminded_7_days_at"
        else:
            continue
        if SigningRequest.objects.filter(pk=request.pk, **{f"{field}__isnull": True}).update(
            **{field: now}
        ):
            _send(request, "reminder")
            sent += 1
    return sent
