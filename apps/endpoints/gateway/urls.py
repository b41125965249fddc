from django.urls import path, re_path

from . import views

urlpatterns = [
    path("v1/models", views.models, name="api_models"),
    path("v1/models/<str:name>", views.models, name="api_model_detail"),
    path("v1/chat/completions", views.chat_completions, name="api_chat_completions"),
    path("v1/completions", views.completions, name="api_completions"),
    path("v1/complete", views.complete, name="api_complete"),
    path("v1/feedback", views.feedback, name="api_feedback"),
    re_path(r"^v1/(?P<rest>.*)$", views.not_found),
]
