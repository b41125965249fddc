from django.db import migrations


def load(apps, schema_editor):
    # Seed data, imported here so later edits to seed.py do not rewrite history silently:
    # a changed seed needs a new migration of its own.
    from apps.catalog.seed import HARDWARE, MODELS

    BaseModel = apps.get_model("catalog", "BaseModel")
    Hardware = apps.get_model("catalog", "Hardware")
    for data in MODELS:
        BaseModel.objects.update_or_create(slug=data["slug"], defaults=data)
    for data in HARDWARE:
        Hardware.objects.update_or_create(slug=data["slug"], defaults=data)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
