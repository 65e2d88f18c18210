"""The object_audit module's declaration checks, statements and plan (pure)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import object_audit


def grant(table, privileges, columns=None, database="finance"):
    return dict(database=database, table=table, privileges=privileges, columns=columns)


@pytest.mark.parametrize(
    "grants, problem",
    [
        ([grant("payments", ["select"])], None),
        ([grant('Sales."Big Orders"', ["UPDATE"], ["Amount"])], None),
        ([grant("a.b.c", ["SELECT"])], "grants[0] (finance a.b.c): expected table or schema.table"),
        ([grant("payments", ["TRUNCATE"])], "TRUNCATE is not covered by pgaudit object auditing"),
        ([grant("payments", ["DELETE"], ["id"])], "DELETE has no column form"),
        ([grant("payments", ["SELECT"], ["x.y"])], "must be a single name"),
        ([grant("payments", [])], "no privileges given"),
    ],
)
def test_every_bad_grant_is_named_with_its_index_and_table(grants, problem):
    wanted, errors = object_audit.declared(grants)
    if problem is None:
        assert errors == [] and list(wanted) == ["finance"]
    else:
        assert len(errors) == 1 and problem in errors[0]


def test_declared_grants_fold_names_as_sql_does_and_merge_per_table():
    wanted, errors = object_audit.declared(
        [grant('Sales."Big Orders"', ["UPDATE"], ["Amount"]), grant('sales."Big Orders"', ["select"])]
    )
    assert errors == []
    assert wanted == {"finance": {("sales", "Big Orders"): {"table": {"SELECT"}, "columns": {"amount": {"UPDATE"}}}}}


@pytest.mark.parametrize(
    "verb, privileges, columns, expected",
    [
        ("grant", ["SELECT"], None, 'GRANT SELECT ON TABLE "s"."t" TO "r"'),
        ("revoke", ["INSERT", "UPDATE"], None, 'REVOKE INSERT, UPDATE ON TABLE "s"."t" FROM "r"'),
        ("grant", ["UPDATE"], ["a", 'b"c'], 'GRANT UPDATE ("a", "b""c") ON TABLE "s"."t" TO "r"'),
    ],
)
def test_statements_quote_every_name(verb, privileges, columns, expected):
    assert object_audit.statement("r", "s", "t", verb, privileges, columns).as_string(None) == expected


def test_a_privilege_outside_the_known_ones_never_reaches_sql():
    with pytest.raises(ValueError, match="unexpected privilege"):
        object_audit.statement("r", "s", "t", "grant", ["SELECT; DROP TABLE t"], None)


def test_the_plan_revokes_what_is_not_declared_and_describes_before_and_after():
    wanted, _errors = object_audit.declared([grant("payments", ["SELECT"])])
    current = {"finance": {("public", "payments"): {"table": {"SELECT", "DELETE"}, "columns": {}}}}
    plans, before, after = object_audit.plan(wanted, current, exclusive=True)
    assert plans == {"finance": [("public", "payments", [("revoke", ["DELETE"], None)])]}
    assert before == [dict(database="finance", table="public.payments", privileges=["SELECT", "DELETE"])]
    assert after == [dict(database="finance", table="public.payments", privileges=["SELECT"])]
    plans, _before, _after = object_audit.plan(wanted, current, exclusive=False)
    assert plans == {"finance": []}
