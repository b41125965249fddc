from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0008_estimated_cost"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingrun",
            name="max_examples",
            field=models.PositiveIntegerField(
                default=0,
                help_text="0 trains on every example; a number trains on that many, picked at random",
                verbose_name="Train on at most (examples)",
            ),
        ),
    ]
