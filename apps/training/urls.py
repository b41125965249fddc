from django.urls import path

from . import views

urlpatterns = [
    path("projects/<uuid:project_id>/runs/new/", views.run_new, name="run_new"),
    path("runs/<uuid:run_id>/", views.run_config, name="run_config"),
    path("runs/<uuid:run_id>/estimate/", views.run_estimate, name="run_estimate"),
    path("runs/<uuid:run_id>/start/", views.run_start, name="run_start"),
    path("runs/<uuid:run_id>/stop/", views.run_stop, name="run_stop"),
    path("runs/<uuid:run_id>/resume/", views.run_resume, name="run_resume"),
    path("runs/<uuid:run_id>/progress/", views.run_progress, name="run_progress"),
    path("runs/<uuid:run_id>/log.txt", views.run_log, name="run_log"),
]
