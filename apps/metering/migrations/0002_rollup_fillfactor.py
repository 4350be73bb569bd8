from django.db import migrations


def set_fillfactor(apps, schema_editor, percent=70):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE metering_meterrollup SET (fillfactor = {percent})")


def reset_fillfactor(apps, schema_editor):
    set_fillfactor(apps, schema_editor, percent=100)


class Migration(migrations.Migration):
    """Room on each page for a rollup row's next version: ingest updates a minute's rows
    again and again, and an update that fits on its page touches none of the indexes (HOT)."""

    dependencies = [("metering", "0001_initial")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
