"""Who may reach what: every pattern of the URL configuration, requested by every role
with GET and with POST, against the statuses written down in tests/access.csv."""

import csv
import datetime
import logging
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.test.client import MULTIPART_CONTENT
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern
from django.utils.http import int_to_base36
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from attestations.services import attestation_sign, signing_request_issue, signing_token
from cascades.evaluation import evaluation_run_perform
from cascades.models import EvaluationRun, Reward
from cascades.services import customer_upsert, engagement_create
from payouts.models import LedgerEntry, Statement
from payouts.services import payout_run_create, statement_issue_pdf
from portal import events
from portal.models import Event, Tier
from portal.services import partner_set_status
from portal.tokens import ops_token_issue
from tests.attestations.test_signing import OUTCOME, PNG
from tests.cascades.factories import SignalFactory, tier_structure
from tests.payouts.factories import post
from tests.portal.factories import (
    PASSWORD,
    PartnerFactory,
    StaffUserFactory,
    UserFactory,
    totp_code,
)

TABLE = Path(__file__).with_name("access.csv")
ROLES = ["anonymous", "a_admin", "b_admin", "a_member", "partner_ops", "finance", "risk",
         "superuser", "ops_token"]  # fmt: skip
TOKEN_ONLY_UNDER = "/api/"  # the ops token is sent to these URLs only
NOT_SENT = "-"
STATUS = re.compile(r"\d{3}(:[-\w]+)?")
# Where a redirect goes, in the table's words (see `where`).
REDIRECT_ALIASES = {
    "account_login": "login",
    "admin:login": "admin-login",
    "admin:index": "admin",
    "mfa_activate_totp": "mfa",
    "account_reauthenticate": "reauth",
    "account_change_password": "change-password",
    "dashboard": "dashboard",
}
# A request sent to one of these pages did not get through.
SENT_AWAY = {"login", "admin-login", "mfa", "reauth"}
# When the world is built and every request sent: inside the window of partner A's
# outcome (signed 2026-01-15, due 2026-07-15, window closes 2026-10-13), June 2026 ended.
NOW = datetime.datetime(2026, 7, 20, 10, tzinfo=datetime.UTC)
D = datetime.date
SIGNER = {"signer_name": "Dana Scully", "signer_title": "CFO",
          "signer_email": "dana@globex.example", "typed_signature": "Dana Scully"}  # fmt: skip
CSRF_SECRET = "accesstestcsrfsecret0123456789ab"  # a CSRF cookie's 32 characters


# --- The URL configuration -------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    route: str  # as the table names it: a leading slash, regex groups written <name>
    django_route: str  # as Django reports it for a request it resolved (ResolverMatch.route)


def _readable(pattern):
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        text = text.removeprefix("^").removesuffix("$")
        text = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", r"<\1>", text)
    return text


def endpoints():
    """Every pattern that answers requests, includes (the admin's too) followed."""

    def walk(patterns, prefix, django_prefix):
        for entry in patterns:
            route = prefix + _readable(entry.pattern)
            django_route = django_prefix + str(entry.pattern).removeprefix("^")
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, route, django_route)
            else:
                yield Endpoint(route, django_route)

    return list(walk(get_resolver().url_patterns, "/", ""))


# --- The table -----------------------------------------------------------------------


def parse_cell(cell):
    """'200/405' -> ('200', '405'); '302:login' -> the same for GET and POST; '-' -> None."""
    if cell == NOT_SENT:
        return None
    statuses = cell.split("/")
    if len(statuses) == 1:
        statuses *= 2
    if len(statuses) != 2 or not all(STATUS.fullmatch(status) for status in statuses):
        raise ValueError(f"not a cell: {cell!r}")
    return tuple(statuses)


def format_cell(cell):
    if cell is None:
        return NOT_SENT
    get, post_ = cell
    return get if get == post_ else f"{get}/{post_}"


def read_table():
    """{route: {role: (GET, POST) or None}}, and what is wrong with the file itself."""
    rows, problems = {}, []
    lines = [line for line in TABLE.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]  # fmt: skip
    reader = csv.reader(lines)
    header = [cell.strip() for cell in next(reader)]
    if header != ["route", *ROLES]:
        return rows, [f"the header must be: route, {', '.join(ROLES)}"]
    for record in reader:
        cells = [cell.strip() for cell in record]
        route = cells[0]
        if len(cells) != len(header):
            problems.append(f"{route}: {len(cells)} cells, not {len(header)}")
            continue
        if route in rows:
            problems.append(f"{route}: two rows")
        try:
            rows[route] = row = dict(zip(ROLES, map(parse_cell, cells[1:]), strict=True))
        except ValueError as error:
            problems.append(f"{route}: {error}")
            continue
        if (row["ops_token"] is not None) != route.startswith(TOKEN_ONLY_UNDER):
            problems.append(f"{route}: ops_token is sent under {TOKEN_ONLY_UNDER} only")
        if any(row[role] is None for role in ROLES if role != "ops_token"):
            problems.append(f"{route}: every role but ops_token needs its statuses")
    return rows, problems


def test_every_url_pattern_has_a_row_and_every_row_a_pattern():
    rows, problems = read_table()
    routes = [endpoint.route for endpoint in endpoints()]
    assert len(routes) == len(set(routes)), "two patterns read alike: see _readable"

    missing = [route for route in routes if route not in rows]
    stale = [route for route in rows if route not in routes]

    assert not (problems or missing or stale), "\n".join(
        [f"{TABLE.name}: {problem}" for problem in problems]
        + [f"no row in {TABLE.name} for the URL pattern {route}" for route in missing]
        + [f"the row {route} of {TABLE.name} names no URL pattern" for route in stale]
    )


# --- The world -----------------------------------------------------------------------


def staff_in(group, **fields):
    user = StaffUserFactory(**fields)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def engagement_of(partner, external_id, customer_name, signed_at, year1_acv):
    """An engagement with the outcome agreement of tests.attestations (not yet signed)."""
    slug = customer_name.lower()
    return engagement_create(
        external_id=external_id, partner=partner,
        customer=customer_upsert(external_id=slug, name=customer_name,
                                 contact_email=f"it@{slug}.example"),
        signed_at=signed_at, currency="USD", year1_acv=Decimal(year1_acv), outcomes=[OUTCOME],
    )  # fmt: skip


@dataclass
class World:
    users: dict  # by role
    token: str  # the ops token, in clear
    values: dict  # URL parameters: {route prefix: {name: value}}
    queries: dict  # query strings by route


def build_world():
    """Partner A owns every object the URLs name: an engagement with its signed agreement,
    an attested outcome with evidence awaiting review, rewards, a clawback, a signal, a
    statement with its PDF. Partner B has an engagement whose agreement awaits signing
    (the open customer link). One user per role; an evaluation run; a payout run in draft
    made by a Finance user who is none of the roles; an ops token; the task queue's rows."""
    tier_structure(Tier.AUTHORIZED)  # the default program's, were it flushed
    partner_a = PartnerFactory(external_id="partner-a", name="Partner A")
    partner_b = PartnerFactory(external_id="partner-b", name="Partner B")
    users = {
        "a_admin": UserFactory(partner=partner_a, partner_role="admin"),
        "b_admin": UserFactory(partner=partner_b, partner_role="admin"),
        "a_member": UserFactory(partner=partner_a),
        "partner_ops": staff_in("Partner operations"),
        "finance": staff_in("Finance"),
        "risk": staff_in("Risk"),
        "superuser": staff_in(None, is_superuser=True),
    }

    engagement = engagement_of(partner_a, "deal-a", "Globex", D(2026, 1, 15), "100000.00")
    agreement = engagement.outcome_agreement
    attestation_sign(token=signing_token(agreement.requests.get()), values=SIGNER)
    outcome = agreement.outcomes.get()
    assert outcome.verification_required  # its attestation waits for review
    attestation = attestation_sign(
        token=signing_token(signing_request_issue(agreement=agreement, outcome=outcome)),
        values={**SIGNER, "achieved_value": Decimal("52"), "evidence_summary": "Export"},
        evidence=SimpleUploadedFile("downtime.png", PNG, "image/png"),
    )  # fmt: skip
    engagement_b = engagement_of(partner_b, "deal-b", "Initech", D(2026, 2, 2), "60000.00")
    open_link = engagement_b.outcome_agreement.requests.get()

    evaluation = EvaluationRun.objects.create(as_of=NOW.date(), requested_by="access test")
    evaluation_run_perform(evaluation)
    reward = Reward.objects.filter(engagement=engagement).earliest("trigger_date")
    post(engagement, "clawback", "-100.00", D(2026, 7, 18), of_reward=reward)
    signal = SignalFactory(customer=engagement.customer, type="csat", value=Decimal(9))

    maker = staff_in("Finance")  # the run's creator may not approve it; the finance role may
    run, _ = payout_run_create(month=D(2026, 6, 1), as_of=D(2026, 7, 1), created_by=maker)
    statement = statement_issue_pdf(Statement.objects.get(run=run, partner=partner_a).pk)
    partner_set_status(partner=partner_a, status="under_review", reason="Access test")
    partner_set_status(partner=partner_a, status="active", reason="Access test")

    token_row, token = ops_token_issue(name="access-test")
    tasks = {
        success: Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"task-{success}",
            func="math.floor",
            started=NOW,
            stopped=NOW,
            success=success,
        )  # fmt: skip
        for success in (True, False)
    }
    queued = OrmQ.objects.create(
        key="portal",
        payload=SignedPackage.dumps({"id": uuid.uuid4().hex, "name": "queued",
                                     "func": "math.floor", "args": (1,), "kwargs": {}}),
    )  # fmt: skip

    objects = {
        "auth/group": Group.objects.get(name="Finance"),
        "django_q/schedule": Schedule.objects.create(name="access-test", func="math.floor"),
        "django_q/success": tasks[True],
        "django_q/failure": tasks[False],
        "django_q/ormq": queued,
        "portal/partner": partner_a,
        "portal/tierchange": partner_a.tier_changes.get(),
        "portal/partnerstatuschange": partner_a.status_changes.first(),
        "portal/user": users["a_member"],
        "account/emailaddress": EmailAddress.objects.get(user=users["a_member"]),
        "mfa/authenticator": Authenticator.objects.get(user=users["partner_ops"]),
        "portal/opstoken": token_row,
        "portal/event": Event.objects.get(action=events.PAYOUT_RUN_CREATED),
        "cascades/cascadestructure": engagement.structure,
        "cascades/customer": engagement.customer,
        "cascades/engagement": engagement,
        "cascades/signal": signal,
        "cascades/reward": reward,
        "cascades/clawback": reward.clawbacks.get(),
        "cascades/evaluationrun": evaluation,
        "attestations/outcomeagreement": agreement,
        "attestations/outcome": outcome,
        "attestations/signingrequest": attestation.request,
        "attestations/attestation": attestation,
        "payouts/ledgerentry": LedgerEntry.objects.filter(partner=partner_a).first(),
        "payouts/statementperiod": run.period,
        "payouts/payoutrun": run,
        "payouts/statement": statement,
        "payouts/statementline": statement.lines.first(),
    }
    values = {f"/admin/{label}/": {"object_id": obj.pk, "pk": obj.pk}
              for label, obj in objects.items()}  # fmt: skip
    values["/admin/portal/user/"]["id"] = users["a_member"].pk
    values["/admin/attestations/attestation/"]["format"] = "html"
    values.update({
        "/admin/": {"app_label": "portal", "url": "no-such-page/"},
        "/admin/r/": {"content_type_id": ContentType.objects.get_for_model(engagement).pk,
                      "object_id": engagement.pk},
        "/api/v1/ops/partners/": {"external_id": partner_a.external_id},
        "/api/v1/ops/engagements/": {"external_id": engagement.external_id},
        "/api/v1/ops/payout-runs/": {"period": f"{run.period.month:%Y-%m}"},
        "/api/v1/ops/evaluations/": {"pk": evaluation.pk},
        "/engagements/": {"external_id": engagement.external_id},
        "/attest/": {"token": signing_token(open_link)},
        "/accounts/": {"key": "no-such-key", "uidb36": int_to_base36(users["a_member"].pk)},
    })  # fmt: skip
    queries = {
        "/api/v1/ops/attestations/": f"engagement={engagement.external_id}",
        "/admin/autocomplete/": "app_label=payouts&model_name=ledgerentry&field_name=engagement",
    }
    return World(users=users, token=token, values=values, queries=queries)


def path_of(route, values):
    """The route with its parameters filled from the longest prefix in `values` naming them."""
    prefixes = sorted((p for p in values if route.startswith(p)), key=len, reverse=True)

    def value(match):
        for prefix in prefixes:
            if match[1] in values[prefix]:
                return str(values[prefix][match[1]])
        raise KeyError(f"{route}: no value for <{match[1]}>: give one in build_world()")

    return re.sub(r"<(?:\w+:)?(\w+)>", value, route)


# --- The requests --------------------------------------------------------------------


def row_counter():
    """A function counting the rows of every table (sessions aside) in one query: what a
    refused request must leave as it found it."""
    tables = sorted(
        {
            model._meta.db_table
            for model in apps.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy
            and model._meta.app_label != "sessions"
        }
    )  # fmt: skip
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)

    def counts():
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return dict(zip(tables, cursor.fetchone(), strict=True))

    return counts


def where(location, path):
    """Where a redirect goes, in the table's words: an alias of REDIRECT_ALIASES, `self`,
    `change` or `changelist` for the admin pages of the model asked for, else the URL's name."""
    target = urlsplit(location).path
    if target == path:
        return "self"
    try:
        view_name = resolve(target).view_name
    except Resolver404:
        return target
    model = re.match(r"/admin/\w+/\w+/", path)
    if model and target.startswith(model[0]) and view_name.endswith(("_change", "_changelist")):
        return view_name.rsplit("_", 1)[1]
    return REDIRECT_ALIASES.get(view_name, view_name.removeprefix("admin:"))


def result_of(response, path):
    if response.status_code in (301, 302, 303, 307, 308):
        return f"{response.status_code}:{where(response['Location'], path)}"
    return str(response.status_code)


def refused(result):
    status, _, target = result.partition(":")
    return int(status) >= 400 or target in SENT_AWAY


def sign_in(client, user):
    """Sign `user` in as a person does, through allauth's pages: email and password, then
    the TOTP code for staff. Returns the session's key."""
    client.cookies = SimpleCookie({settings.CSRF_COOKIE_NAME: CSRF_SECRET})
    headers = {"X-CSRFToken": CSRF_SECRET}
    credentials = {"login": user.email, "password": PASSWORD}
    response = client.post(reverse("account_login"), credentials, headers=headers)
    if user.is_staff:
        assert response["Location"] == reverse("mfa_authenticate"), user
        code = {"code": totp_code()}
        response = client.post(reverse("mfa_authenticate"), code, headers=headers)
    assert response.status_code == 302, (user, response.status_code)
    assert client.session.get("_auth_user_id") == str(user.pk), user
    return client.cookies[settings.SESSION_COOKIE_NAME].value


class Sender:
    """Sends each request as its role, with CSRF checks on as in production, inside a
    savepoint rolled back afterwards: every request meets the same world (a sign-out ends
    no session, an approval approves nothing), and a refused one is checked to have
    changed nothing."""

    def __init__(self, world):
        self.client = Client(enforce_csrf_checks=True, raise_request_exception=False)
        self.sessions = {role: sign_in(self.client, user) for role, user in world.users.items()}
        self.token = world.token
        self.counts = row_counter()
        self.before = self.counts()
        self.changed = []

    def send(self, role, method, path, *, query="", csrf=True):
        self.client.cookies = SimpleCookie({settings.CSRF_COOKIE_NAME: CSRF_SECRET})
        headers = {}
        if role == "ops_token":
            headers["Authorization"] = f"Bearer {self.token}"
        elif role in self.sessions:
            self.client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[role]
        url = f"{path}?{query}" if query else path
        with transaction.atomic():
            if method == "GET":
                response = self.client.get(url, headers=headers)
            else:
                if csrf:
                    headers["X-CSRFToken"] = CSRF_SECRET
                # Empty: a form without fields; for the API, JSON without content.
                kind = "application/json" if path.startswith("/api/") else MULTIPART_CONTENT
                response = self.client.post(url, content_type=kind, headers=headers)
            if response.streaming:  # a file: read to its end, the client then closes it
                b"".join(response.streaming_content)
            result = result_of(response, path)
            if refused(result) and (after := self.counts()) != self.before:
                changes = {table: f"{self.before[table]} -> {count}"
                           for table, count in after.items()
                           if count != self.before[table]}  # fmt: skip
                self.changed.append(f"{method} {url} as {role} ({result}) changed {changes}")
            transaction.set_rollback(True)
        return result


@pytest.mark.django_db
def test_every_role_gets_the_statuses_of_the_table_from_every_url(time_machine, caplog):
    time_machine.move_to(NOW, tick=False)
    # Thousands of refusals are the point here: only errors (a 500) are worth a log line.
    caplog.set_level(logging.ERROR, logger="django.request")
    caplog.set_level(logging.ERROR, logger="django.security")
    rows, problems = read_table()
    assert not problems, problems
    world = build_world()
    sender = Sender(world)
    assert sender.send("superuser", "POST", "/admin/", csrf=False) == "403"  # CSRF is checked

    mismatches, observed, requests = [], {}, 0
    for endpoint in endpoints():
        try:
            path = path_of(endpoint.route, world.values)
        except KeyError as error:
            mismatches.append(error.args[0])
            continue
        if resolve(path).route != endpoint.django_route:
            mismatches.append(f"{path} is not a URL of {endpoint.route}: fix build_world()")
            continue
        expected_row = rows.get(endpoint.route, {})
        got_row = {}
        for role in ROLES:
            if role == "ops_token" and not path.startswith(TOKEN_ONLY_UNDER):
                got_row[role] = None
                continue
            query = world.queries.get(endpoint.route, "")
            got_row[role] = got = tuple(sender.send(role, method, path, query=query)
                                        for method in ("GET", "POST"))  # fmt: skip
            requests += 2
            expected = expected_row.get(role) or ("(no row)", "(no row)")
            mismatches += [f"{method} {path} as {role}: {want} expected, {status} received"
                           for method, want, status in zip(("GET", "POST"), expected, got,
                                                           strict=True)
                           if want != status]  # fmt: skip
        if got_row != expected_row:
            observed[endpoint.route] = got_row

    assert not (mismatches or sender.changed), "\n".join(
        [f"{len(mismatches)} of {requests} requests differ from {TABLE.name}:", *mismatches,
         "", "Those rows as received (check every cell before copying one into the table):",
         *(", ".join([route, *map(format_cell, row.values())]) for route, row in observed.items()),
         "", f"{len(sender.changed)} refused requests changed the database:", *sender.changed]
    )  # fmt: skip
