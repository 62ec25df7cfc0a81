"""The event log (portal.events): one append-only row per money movement or lifecycle
change. On PostgreSQL a trigger refuses UPDATE and DELETE, as for the ledger."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# The body of payouts' 0002_append_only_triggers: created here too, so that the portal does
# not depend on the payouts app's migrations.
FUNCTION = """
CREATE OR REPLACE FUNCTION portal_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE =
        'rows of ' || TG_TABLE_NAME || ' are append-only: add a correcting row instead';
END
$$ LANGUAGE plpgsql;
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    schema_editor.execute(
        "CREATE TRIGGER portal_event_append_only BEFORE UPDATE OR DELETE ON portal_event "
        "FOR EACH ROW EXECUTE FUNCTION portal_refuse_change()"
    )


def drop_trigger(apps, schema_editor):
    # The function stays: the ledger's triggers use it too.
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS portal_event_append_only ON portal_event")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("portal", "0004_staff_groups_cascades"),
    ]

    operations = [
        migrations.CreateModel(
            name="Event",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("occurred_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "action",
                    models.CharField(
                        help_text="A dotted code: payout_run.approved.", max_length=64
                    ),
                ),
                (
                    "actor_system",
                    models.CharField(
                        blank=True,
                        help_text="The job that acted, when no person or token did.",
                        max_length=64,
                    ),
                ),
                (
                    "subject_id",
                    models.CharField(help_text="The subject's primary key.", max_length=64),
                ),
                ("data", models.JSONField(blank=True, default=dict)),
                (
                    "actor_token",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="portal.opstoken",
                    ),
                ),
                (
                    "actor_user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "partner",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="portal.partner",
                    ),
                ),
                (
                    "subject_type",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="contenttypes.contenttype",
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [
                    models.Index(
                        fields=["subject_type", "subject_id", "id"], name="event_by_subject"
                    ),
                    models.Index(fields=["partner", "id"], name="event_by_partner"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("actor_system", ""),
                                ("actor_token__isnull", True),
                                ("actor_user__isnull", False),
                            ),
                            models.Q(
                                ("actor_system", ""),
                                ("actor_token__isnull", False),
                                ("actor_user__isnull", True),
                            ),
                            models.Q(
                                ("actor_token__isnull", True),
                                ("actor_user__isnull", True),
                                models.Q(("actor_system", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="event_exactly_one_actor",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("action", ""), _negated=True), name="event_has_action"
                    ),
                ],
            },
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
