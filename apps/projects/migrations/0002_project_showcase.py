from django.db import migrations, models

SHOWCASE_NAME = "Support Replies (finished example)"  # as showcase.py names it
DEMO_EMAIL = "demo@vibeflow.local"


def mark_existing(apps, schema_editor):
    Project = apps.get_model("projects", "Project")
    Project.objects.filter(name=SHOWCASE_NAME, created_by__email=DEMO_EMAIL).update(showcase=True)


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="project",
            name="showcase",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(mark_existing, migrations.RunPython.noop),
    ]
