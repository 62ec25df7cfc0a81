"""The one-page forms customers reach from an emailed link: no account needed."""

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from attestations.forms import OutcomeAttestationForm, SignatureForm
from attestations.services import (
    CONSENT_TEXT,
    LinkProblem,
    attestation_sign,
    shown_content,
    signing_request_for,
)

PROBLEM_STATUS = {"tampered": 400, "expired": 410, "used": 410, "revoked": 410, "closed": 410}


def _client_ip(request):
    return request.META.get("REMOTE_ADDR") or None


@require_http_methods(["GET", "POST"])
def sign(request, token):
    try:
        signing_request = signing_request_for(token)
    except LinkProblem as problem:
        return render(
            request,
            "attestations/link_problem.html",
            {"problem": problem},
            status=PROBLEM_STATUS[problem.reason],
        )
    form_class = OutcomeAttestationForm if signing_request.outcome_id else SignatureForm
    form = form_class(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            attestation = attestation_sign(
                token=token,
                values=form.cleaned_data,
                evidence=form.cleaned_data.get("evidence_file"),
                ip=_client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except LinkProblem as problem:
            return render(
                request,
                "attestations/link_problem.html",
                {"problem": problem},
                status=PROBLEM_STATUS[problem.reason],
            )
        return render(request, "attestations/signed.html", {"attestation": attestation})
    return render(
        request,
        "attestations/sign.html",
        {
            "form": form,
            "content": shown_content(signing_request),
            "consent_text": CONSENT_TEXT,
            "expires_at": signing_request.expires_at,
        },
        status=400 if request.method == "POST" else 200,
    )
