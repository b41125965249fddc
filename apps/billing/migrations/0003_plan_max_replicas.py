from django.db import migrations, models


def load(apps, schema_editor):
    """Only the new figure: the plans' other fields may have been edited in the admin since."""
    from apps.billing.plans import PLANS

    Plan = apps.get_model("billing", "Plan")
    for row in PLANS:
        Plan.objects.filter(slug=row["slug"]).update(max_replicas=row["max_replicas"])


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_seed_plans")]
    operations = [
        migrations.AddField(
            model_name="plan",
            name="max_replicas",
            field=models.PositiveSmallIntegerField(
                default=1,
                help_text="Replicas an endpoint may have (copies of its model on servers)",
            ),
        ),
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
