from django.urls import path

from . import views

urlpatterns = [
    path("welcome/", views.welcome, name="welcome"),
    path("projects/<uuid:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<uuid:project_id>/history/", views.project_history, name="project_history"),
    path(
        "projects/<uuid:project_id>/versions/compare/",
        views.versions_compare,
        name="versions_compare",
    ),
    path("teams/<uuid:team_id>/usage/", views.usage, name="team_usage"),
]
