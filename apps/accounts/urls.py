from django.urls import path

from . import views

urlpatterns = [
    path("teams/", views.team_list, name="team_list"),
    path("teams/switch/", views.team_switch, name="team_switch"),
    path("teams/new/", views.team_create, name="team_create"),
    path("teams/<uuid:team_id>/", views.team_detail, name="team_detail"),
    path("teams/<uuid:team_id>/rename/", views.team_rename, name="team_rename"),
    path("teams/<uuid:team_id>/webhook/", views.team_webhook, name="team_webhook"),
    path("teams/<uuid:team_id>/two-factor/", views.team_two_factor, name="team_two_factor"),
    path("teams/<uuid:team_id>/invitations/", views.invite, name="team_invite"),
    path(
        "teams/<uuid:team_id>/invitations/<uuid:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "teams/<uuid:team_id>/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "teams/<uuid:team_id>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
