from django.urls import path

from . import views

urlpatterns = [
    path("projects/<uuid:project_id>/datasets/", views.dataset_list, name="dataset_list"),
    path("projects/<uuid:project_id>/datasets/upload/", views.upload, name="dataset_upload"),
    path(
        "projects/<uuid:project_id>/datasets/samples/<slug:sample>/",
        views.import_sample,
        name="dataset_sample",
    ),
    path("projects/<uuid:project_id>/datasets/discover/", views.discover, name="dataset_discover"),
    path(
        "projects/<uuid:project_id>/datasets/discover/import/",
        views.hub_import,
        name="dataset_hub_import",
    ),
    path("datasets/versions/<uuid:version_id>/", views.version_detail, name="version_detail"),
    path(
        "datasets/versions/<uuid:version_id>/status/", views.version_status, name="version_status"
    ),
    path("datasets/versions/<uuid:version_id>/rows/", views.version_rows, name="version_rows"),
    path(
        "datasets/versions/<uuid:version_id>/mapping/",
        views.version_mapping,
        name="version_mapping",
    ),
    path("datasets/versions/<uuid:version_id>/fix/", views.version_fix, name="version_fix"),
    path(
        "datasets/versions/<uuid:version_id>/accept/", views.version_accept, name="version_accept"
    ),
    path(
        "datasets/versions/<uuid:version_id>/language/",
        views.version_language,
        name="version_language",
    ),
]
