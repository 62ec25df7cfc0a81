"""PostgreSQL refuses a clawback or reversal that would take back more than its reward.

The trigger locks the reward row, so that the clawbacks of one reward are written one
transaction at a time, then adds up what was already taken back (SPEC §5).
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION cascades_clawback_within_reward() RETURNS trigger AS $$
DECLARE
    reward_amount numeric;
    taken numeric;
BEGIN
    SELECT amount INTO reward_amount FROM cascades_reward WHERE id = NEW.reward_id
        FOR NO KEY UPDATE;
    IF EXISTS (SELECT 1 FROM cascades_clawback
               WHERE reward_id = NEW.reward_id AND kind = NEW.kind) THEN
        RETURN NEW;  -- the unique constraint (or ON CONFLICT DO NOTHING) decides
    END IF;
    SELECT COALESCE(SUM(amount), 0) INTO taken FROM cascades_clawback
        WHERE reward_id = NEW.reward_id;
    IF taken + NEW.amount > reward_amount THEN
        RAISE EXCEPTION 'reward % would lose % but is worth %', NEW.reward_id,
            taken + NEW.amount, reward_amount USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # its % are PL/pgSQL, not placeholders
    schema_editor.execute(
        "CREATE TRIGGER cascades_clawback_within_reward BEFORE INSERT ON cascades_clawback "
        "FOR EACH ROW EXECUTE FUNCTION cascades_clawback_within_reward()"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS cascades_clawback_within_reward ON cascades_clawback"
    )
    schema_editor.execute("DROP FUNCTION IF EXISTS cascades_clawback_within_reward()")


class Migration(migrations.Migration):
    dependencies = [("cascades", "0003_actors_tokens")]

    operations = [migrations.RunPython(create, drop)]
