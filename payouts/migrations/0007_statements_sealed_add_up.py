"""A statement's figures are the sums of its lines (SPEC §6), checked by PostgreSQL.

A statement is created empty, its lines attached, then its figures summed from them
and the statement sealed, all in one transaction. At commit a deferred constraint
trigger checks every statement written in it: sealed, each figure equal to its lines,
closing = opening + entries − payable. No line joins a sealed statement, a sealed
statement's figures never change, and lines are never updated or deleted.
"""

from django.db import migrations, models

CHECK = """
CREATE OR REPLACE FUNCTION payouts_statement_adds_up() RETURNS trigger AS $$
DECLARE
    s payouts_statement%ROWTYPE;
    t record;
BEGIN
    SELECT * INTO s FROM payouts_statement WHERE id = NEW.id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NOT s.sealed THEN
        RAISE EXCEPTION 'statement % was left unsealed: its figures are not its lines', s.id
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT
        COALESCE(SUM(e.amount) FILTER (WHERE e.kind = 'standard_commission'), 0) AS standard,
        COALESCE(SUM(e.amount) FILTER (WHERE e.kind = 'cascade_reward'), 0) AS cascade,
        COALESCE(SUM(e.amount) FILTER (WHERE e.kind = 'clawback'), 0) AS clawbacks,
        COALESCE(SUM(e.amount) FILTER (WHERE e.kind = 'adjustment'), 0) AS adjustments,
        COALESCE(SUM(e.amount), 0) AS total,
        COUNT(*) FILTER (WHERE e.kind = 'payout') AS payouts
    INTO t
    FROM payouts_statementline l JOIN payouts_ledgerentry e ON e.id = l.entry_id
    WHERE l.statement_id = s.id;
    IF t.payouts > 0
       OR s.standard_earnings <> t.standard OR s.cascade_earnings <> t.cascade
       OR s.clawbacks <> t.clawbacks OR s.adjustments <> t.adjustments
       OR s.closing_balance <> s.opening_balance + t.total - s.payable THEN
        RAISE EXCEPTION 'statement % does not add up to its lines', s.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""

FROZEN = """
CREATE OR REPLACE FUNCTION payouts_statement_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.sealed AND (NOT NEW.sealed
        OR (NEW.opening_balance, NEW.standard_earnings, NEW.cascade_earnings, NEW.clawbacks,
            NEW.adjustments, NEW.payable, NEW.closing_balance, NEW.run_id, NEW.partner_id,
            NEW.currency)
           IS DISTINCT FROM
           (OLD.opening_balance, OLD.standard_earnings, OLD.cascade_earnings, OLD.clawbacks,
            OLD.adjustments, OLD.payable, OLD.closing_balance, OLD.run_id, OLD.partner_id,
            OLD.currency)) THEN
        RAISE EXCEPTION 'statement % is sealed: its figures never change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""

NO_LINE_ON_SEALED = """
CREATE OR REPLACE FUNCTION payouts_line_on_open_statement() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_lines l JOIN payouts_statement s ON s.id = l.statement_id
               WHERE s.sealed) THEN
        RAISE EXCEPTION 'a line cannot join a sealed statement'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in (CHECK, FROZEN, NO_LINE_ON_SEALED):
        schema_editor.execute(sql, params=None)  # its % are PL/pgSQL, not placeholders
    schema_editor.execute(
        "CREATE CONSTRAINT TRIGGER payouts_statement_adds_up AFTER INSERT OR UPDATE "
        "ON payouts_statement DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "EXECUTE FUNCTION payouts_statement_adds_up()"
    )
    schema_editor.execute(
        "CREATE TRIGGER payouts_statement_frozen BEFORE UPDATE ON payouts_statement "
        "FOR EACH ROW EXECUTE FUNCTION payouts_statement_frozen()"
    )
    schema_editor.execute(
        "CREATE TRIGGER payouts_line_on_open_statement AFTER INSERT ON payouts_statementline "
        "REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT "
        "EXECUTE FUNCTION payouts_line_on_open_statement()"
    )
    schema_editor.execute(
        "CREATE TRIGGER payouts_statementline_append_only BEFORE UPDATE OR DELETE "
        "ON payouts_statementline FOR EACH ROW EXECUTE FUNCTION portal_refuse_change()"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for trigger, table in [
        ("payouts_statement_adds_up", "payouts_statement"),
        ("payouts_statement_frozen", "payouts_statement"),
        ("payouts_line_on_open_statement", "payouts_statementline"),
        ("payouts_statementline_append_only", "payouts_statementline"),
    ]:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for function in (
        "payouts_statement_adds_up",
        "payouts_statement_frozen",
        "payouts_line_on_open_statement",
    ):
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}()")


def seal_existing(apps, schema_editor):
    # Statements made before had their figures summed in the same transaction.
    apps.get_model("payouts", "Statement").objects.update(sealed=True)


class Migration(migrations.Migration):
    dependencies = [("payouts", "0006_statement_total_to_the_cent")]

    operations = [
        migrations.AddField(
            model_name="statement",
            name="sealed",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Its figures are the sums of its lines; no line joins it afterwards.",
            ),
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
        migrations.RunPython(create, drop),
    ]
