from django.db import migrations

# Price sources are shown to users next to each price: they name where a figure comes from in
# plain words, not an internal document or an operator's chore. Rows whose price was refreshed or
# edited since keep their own source.
RENAMED = {
    "product spec's default price list": "VibeFlow's default list price",
    "rough initial figure, not a quote: refresh prices from RunPod for the current one": (
        "VibeFlow's rough initial figure, not a quote from RunPod"
    ),
}


def rename(apps, schema_editor, mapping=RENAMED):
    Hardware = apps.get_model("catalog", "Hardware")
    for old, new in mapping.items():
        Hardware.objects.filter(price_source=old).update(price_source=new)


def restore(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_seed_catalog")]
    operations = [migrations.RunPython(rename, restore)]
