from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0004_version_restrict"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluation",
            name="stage_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
