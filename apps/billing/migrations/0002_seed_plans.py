from django.db import migrations


def load(apps, schema_editor):
    from apps.billing.plans import load as load_plans

    load_plans(apps.get_model("billing", "Plan"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
