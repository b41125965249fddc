from django.urls import path

from . import views

urlpatterns = [
    path("projects/<uuid:project_id>/agent/", views.send, name="agent_send"),
    path("projects/<uuid:project_id>/agent/clear/", views.clear, name="agent_clear"),
    path("projects/<uuid:project_id>/runs/new/", views.run_new, name="run_new"),
    path("agent/messages/<int:message_id>/start/", views.start, name="agent_start"),
]
