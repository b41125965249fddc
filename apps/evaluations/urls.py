from django.urls import path

from . import views

urlpatterns = [
    path("runs/<uuid:run_id>/evaluate/", views.evaluation_start, name="evaluation_start"),
    path(
        "projects/<uuid:project_id>/evaluations/compare/",
        views.evaluation_compare,
        name="evaluation_compare",
    ),
    path("evaluations/<uuid:evaluation_id>/", views.evaluation_detail, name="evaluation_detail"),
    path(
        "evaluations/<uuid:evaluation_id>/base/",
        views.evaluation_start_base,
        name="evaluation_start_base",
    ),
    path(
        "evaluations/<uuid:evaluation_id>/progress/",
        views.evaluation_progress,
        name="evaluation_progress",
    ),
    path(
        "evaluations/<uuid:evaluation_id>/examples/",
        views.evaluation_examples,
        name="evaluation_examples",
    ),
    path(
        "evaluations/<uuid:evaluation_id>/files/<str:name>",
        views.evaluation_file,
        name="evaluation_file",
    ),
]
