# A deployment tried again after failing says so ("Deploying (retry)").

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("endpoints", "0003_hub_push"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="attempt",
            field=models.PositiveSmallIntegerField(default=1),
        ),
    ]
