from django.db import migrations


def load(apps, schema_editor):
    # Seed data, imported here so later edits to seed.py do not rewrite history silently:
    # a changed seed needs a new migration of its own.
    from apps.catalog.seed import load as load_seed

    load_seed(apps.get_model("catalog", "BaseModel"), apps.get_model("catalog", "Hardware"))


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
