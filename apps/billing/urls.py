from django.urls import path

from . import views

urlpatterns = [
    path("teams/<uuid:team_id>/usage.csv", views.usage_csv, name="team_usage_csv"),
    path("teams/<uuid:team_id>/billing/", views.billing, name="team_billing"),
    path("teams/<uuid:team_id>/billing/checkout/", views.checkout, name="billing_checkout"),
    path("teams/<uuid:team_id>/billing/portal/", views.portal, name="billing_portal"),
    path("teams/<uuid:team_id>/billing/cancel/", views.cancel, name="billing_cancel"),
    path("billing/stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
