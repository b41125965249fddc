from django.urls import path

from apps.projects.consumers import ProjectConsumer
from apps.training.consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/projects/<uuid:project_id>/", ProjectConsumer.as_asgi()),
    path("ws/runs/<uuid:run_id>/", RunConsumer.as_asgi()),
]
