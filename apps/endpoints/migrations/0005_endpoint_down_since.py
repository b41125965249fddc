# When a live endpoint stopped answering, kept so its page and lists say "Not answering since ...".

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("endpoints", "0004_deployment_attempt"),
    ]

    operations = [
        migrations.AddField(
            model_name="endpoint",
            name="down_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
