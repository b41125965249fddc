from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from . import health

# The admin's own login form counts no failed attempts. This sends an anonymous visitor to the
# site's login (allauth: failures throttled in Redis, ACCOUNT_RATE_LIMITS) and back; a signed-in
# non-staff user gets a 403. Before admin.site.urls below, which reads admin.site.login.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # First: every API call resolves its URL, and the site's patterns need not be tried for it.
    path("", include("apps.endpoints.gateway.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.catalog.urls")),
    path("", include("apps.training.urls")),
    path("", include("apps.evaluations.urls")),
    path("", include("apps.brainstorm.urls")),
    path("", include("apps.endpoints.urls")),
    path("", include("apps.billing.urls")),
    path("", include("apps.workspace.urls")),
]

handler404 = "vibeflow_site.errors.not_found"
handler403 = "vibeflow_site.errors.forbidden"
handler500 = "vibeflow_site.errors.server_error"
