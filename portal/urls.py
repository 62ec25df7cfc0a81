from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from attestations import api as attestations_api
from attestations import views as attestation_views
from cascades import api as cascades_api
from payouts import api as payouts_api
from portal import api as portal_api
from portal import views


class _TextConverter:
    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class ExternalIdConverter(_TextConverter):
    """An id from the CRM as the ops API takes it: a slug, at most its columns' 64."""

    regex = "[-a-zA-Z0-9_]{1,64}"


class PeriodConverter(_TextConverter):
    """A payout period, YYYY-MM (the view says which months exist)."""

    regex = "[0-9]{4}-[0-9]{2}"


register_converter(ExternalIdConverter, "external_id")
register_converter(PeriodConverter, "period")

# The admin's own login has no rate limit: send staff through allauth's instead.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Cascade rewards: staff"
admin.site.site_title = "Cascade rewards staff"
admin.site.index_title = "Partner program administration"

ops_api = [
    path("partners/", portal_api.PartnerCreateView.as_view(), name="ops-partners"),
    path(
        "partners/<external_id:external_id>/tier/",
        portal_api.PartnerTierView.as_view(),
        name="ops-partner-tier",
    ),
    path("structures/", cascades_api.StructureView.as_view(), name="ops-structures"),
    path("engagements/", cascades_api.EngagementCreateView.as_view(), name="ops-engagements"),
    path(
        "engagements/<external_id:external_id>/",
        cascades_api.EngagementDetailView.as_view(),
        name="ops-engagement",
    ),
    path("signals/", cascades_api.SignalView.as_view(), name="ops-signals"),
    path("evaluations/", cascades_api.EvaluationView.as_view(), name="ops-evaluations"),
    path("attestations/", attestations_api.AttestationListView.as_view(), name="ops-attestations"),
    path("payout-runs/", payouts_api.PayoutRunView.as_view(), name="ops-payout-runs"),
    path(
        "payout-runs/<period:period>/",
        payouts_api.PayoutRunDetailView.as_view(),
        name="ops-payout-run",
    ),
    path(
        "evaluations/<int:pk>/",
        cascades_api.EvaluationDetailView.as_view(),
        name="ops-evaluation",
    ),
]

urlpatterns = [
    path("api/v1/ops/", include(ops_api)),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", views.dashboard, name="dashboard"),
    path(
        "engagements/<external_id:external_id>/",
        views.engagement_detail,
        name="engagement_detail",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("attest/<str:token>/", attestation_views.sign, name="attestation_sign"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
