from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from portal import views

# The admin's own login has no rate limit: send staff through allauth's instead.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Cascade rewards: staff"
admin.site.site_title = "Cascade rewards staff"
admin.site.index_title = "Partner program administration"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("engagements/<str:external_id>/", views.engagement_detail, name="engagement_detail"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
