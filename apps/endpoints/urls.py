from django.urls import path

from . import views

urlpatterns = [
    path(
        "projects/<uuid:project_id>/endpoints/", views.project_endpoints, name="project_endpoints"
    ),
    path("projects/<uuid:project_id>/keys/", views.key_create, name="key_create"),
    path("runs/<uuid:run_id>/deploy/", views.run_deploy, name="run_deploy"),
    path("runs/<uuid:run_id>/download/", views.run_download, name="run_download"),
    path("runs/<uuid:run_id>/hub/", views.run_hub_push, name="run_hub_push"),
    path("runs/<uuid:run_id>/hub/forget-token/", views.hub_token_remove, name="hub_token_remove"),
    path(
        "runs/<uuid:run_id>/download/gguf/<slug:kind>/",
        views.run_download_gguf,
        name="run_download_gguf",
    ),
    path(
        "runs/<uuid:run_id>/download/merged/",
        views.run_download_merged,
        name="run_download_merged",
    ),
    path("endpoints/<uuid:endpoint_id>/", views.endpoint_detail, name="endpoint_detail"),
    path(
        "endpoints/<uuid:endpoint_id>/settings/", views.endpoint_settings, name="endpoint_settings"
    ),
    path("endpoints/<uuid:endpoint_id>/stop/", views.endpoint_stop, name="endpoint_stop"),
    path(
        "endpoints/<uuid:endpoint_id>/production-dataset/",
        views.endpoint_build_dataset,
        name="endpoint_build_dataset",
    ),
    path("endpoints/<uuid:endpoint_id>/ab/", views.endpoint_ab, name="endpoint_ab"),
    path("endpoints/<uuid:endpoint_id>/logs/", views.endpoint_logs, name="endpoint_logs"),
    path("endpoints/<uuid:endpoint_id>/console/", views.endpoint_console, name="endpoint_console"),
    path(
        "deployments/<uuid:deployment_id>/progress/",
        views.deployment_progress,
        name="deployment_progress",
    ),
    path(
        "deployments/<uuid:deployment_id>/activate/",
        views.deployment_activate,
        name="deployment_activate",
    ),
    path(
        "deployments/<uuid:deployment_id>/delete/",
        views.deployment_delete,
        name="deployment_delete",
    ),
    path("internal/servers/announce", views.server_announce, name="server_announce"),
    path("keys/<uuid:key_id>/rotate/", views.key_rotate, name="key_rotate"),
    path("keys/<uuid:key_id>/revoke/", views.key_revoke, name="key_revoke"),
]
