from django.contrib import admin
from django.urls import include, path

from . import health

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
]

handler404 = "vibeflow_site.errors.not_found"
handler403 = "vibeflow_site.errors.forbidden"
handler500 = "vibeflow_site.errors.server_error"
