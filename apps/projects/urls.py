from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<uuid:project_id>/rename/", views.project_rename, name="project_rename"),
    path("projects/<uuid:project_id>/archive/", views.project_archive, name="project_archive"),
    path("projects/<uuid:project_id>/delete/", views.project_delete, name="project_delete"),
]
