from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_staff_groups(apps, schema_editor):
    from apps.core.roles import grant_role_permissions

    # Permissions are normally created after all migrations; create them now so the
    # groups start out complete for the apps migrated so far.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
        app_config.models_module = None
    grant_role_permissions(apps=apps, using=schema_editor.connection.alias)


def remove_staff_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["Product", "Finance", "Support"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_staff_groups, remove_staff_groups)]
