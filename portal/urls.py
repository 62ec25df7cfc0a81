from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from attestations import api as attestations_api
from attestations import views as attestation_views
from cascades import api as cascades_api
from payouts import api as payouts_api
from portal import api as portal_api
from portal import views

# The admin's own login has no rate limit: send staff through allauth's instead.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Cascade rewards: staff"
admin.site.site_title = "Cascade rewards staff"
admin.site.index_title = "Partner program administration"

ops_api = [
    path("partners/", portal_api.PartnerCreateView.as_view(), name="ops-partners"),
    path(
        "partners/<slug:external_id>/tier/",
        portal_api.PartnerTierView.as_view(),
        name="ops-partner-tier",
    ),
    path("structures/", cascades_api.StructureView.as_view(), name="ops-structures"),
    path("engagements/", cascades_api.EngagementCreateView.as_view(), name="ops-engagements"),
    path(
        "engagements/<slug:external_id>/",
        cascades_api.EngagementDetailView.as_view(),
        name="ops-engagement",
    ),
    path("signals/", cascades_api.SignalView.as_view(), name="ops-signals"),
    path("evaluations/", cascades_api.EvaluationView.as_view(), name="ops-evaluations"),
    path("attestations/", attestations_api.AttestationListView.as_view(), name="ops-attestations"),
    path("payout-runs/", payouts_api.PayoutRunView.as_view(), name="ops-payout-runs"),
    path(
        "payout-runs/<str:period>/",
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
    path("engagements/<str:external_id>/", views.engagement_detail, name="engagement_detail"),
    path("healthz", views.healthz, name="healthz"),
    path("attest/<str:token>/", attestation_views.sign, name="attestation_sign"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
