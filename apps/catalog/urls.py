from django.urls import path

from . import views

urlpatterns = [
    path("catalog/", views.model_list, name="catalog"),
    path("catalog/compare/", views.model_compare, name="catalog_compare"),
    path("catalog/hardware/", views.hardware_list, name="catalog_hardware"),
    path("catalog/<str:slug>/", views.model_detail, name="catalog_model"),
]
