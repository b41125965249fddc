from django.urls import path

from . import remote_views, views

urlpatterns = [
    path("runs/<uuid:run_id>/", views.run_config, name="run_config"),
    path("runs/<uuid:run_id>/estimate/", views.run_estimate, name="run_estimate"),
    path("runs/<uuid:run_id>/start/", views.run_start, name="run_start"),
    path("runs/<uuid:run_id>/reset/", views.run_reset, name="run_reset"),
    path("runs/<uuid:run_id>/size/", views.run_size, name="run_size"),
    path("runs/<uuid:run_id>/stop/", views.run_stop, name="run_stop"),
    path("runs/<uuid:run_id>/resume/", views.run_resume, name="run_resume"),
    path("runs/<uuid:run_id>/progress/", views.run_progress, name="run_progress"),
    path("runs/<uuid:run_id>/log.txt", views.run_log, name="run_log"),
    path("runs/<uuid:run_id>/branch/", views.run_branch, name="run_branch"),
    path("projects/<uuid:project_id>/merge/", views.project_merge, name="project_merge"),
    # Called by remote GPU pods with the run's token (apps/training/remote_views.py)
    path("internal/runs/<uuid:run_id>/spec", remote_views.spec, name="remote_spec"),
    path(
        "internal/runs/<uuid:run_id>/files/<str:name>",
        remote_views.data_file,
        name="remote_file",
    ),
    path("internal/runs/<uuid:run_id>/events", remote_views.events, name="remote_events"),
    path("internal/runs/<uuid:run_id>/adapter", remote_views.adapter, name="remote_adapter"),
    path(
        "internal/runs/<uuid:run_id>/init-adapter",
        remote_views.init_adapter,
        name="remote_init_adapter",
    ),
    path("internal/runs/<uuid:run_id>/result", remote_views.result, name="remote_result"),
]
