from django.contrib import admin

from .models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "status", "created_at", "archived_at"]
    list_filter = ["status"]
    search_fields = ["name", "team__name"]
    raw_id_fields = ["created_by"]
