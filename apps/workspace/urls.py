from django.urls import path

from . import views

urlpatterns = [
    path("welcome/", views.welcome, name="welcome"),
    path("projects/<uuid:project_id>/", views.project_detail, name="project_detail"),
    path("teams/<uuid:team_id>/usage/", views.usage, name="team_usage"),
]
