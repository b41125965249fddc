# "Trained": a version is ready to deploy and nothing answers yet (training.models.project_status).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_project_showcase"),
    ]

    operations = [
        migrations.AlterField(
            model_name="project",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("training", "Training"),
                    ("trained", "Trained"),
                    ("deployed", "Deployed"),
                ],
                default="draft",
                max_length=10,
            ),
        ),
    ]
