"""Object-audit grants as sets: what to GRANT and REVOKE, and how grants are shown."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import object_grants as og


def state(table=(), **columns):
    return {"table": set(table), "columns": {name: set(privs) for name, privs in columns.items()}}


def test_truncate_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="TRUNCATE is not covered by pgaudit object auditing"):
        og.check_privileges(["select", "truncate"])


def test_privileges_are_upper_case_in_display_order_without_duplicates():
    assert og.check_privileges(["delete", "Select", "SELECT"]) == ["SELECT", "DELETE"]


def test_delete_has_no_column_form():
    with pytest.raises(ValueError, match="DELETE has no column form"):
        og.check_privileges(["DELETE"], columns=["a"])


def test_other_privileges_are_refused():
    with pytest.raises(ValueError, match="'REFERENCES' cannot be audited"):
        og.check_privileges(["REFERENCES"])
    with pytest.raises(ValueError, match="no privileges"):
        og.check_privileges([])


def test_missing_privileges_are_granted():
    steps, after = og.plan_table(None, state(["SELECT", "DELETE"], a=["UPDATE"]))
    assert steps == [("grant", ["SELECT", "DELETE"], None), ("grant", ["UPDATE"], ["a"])]
    assert after == state(["SELECT", "DELETE"], a=["UPDATE"])


def test_nothing_to_do_when_in_place():
    assert og.plan_table(state(["SELECT"]), state(["SELECT"]))[0] == []


def test_exclusive_revokes_what_is_not_declared():
    steps, after = og.plan_table(state(["SELECT", "TRUNCATE"], b=["INSERT"]), state(["SELECT"]))
    assert steps == [("revoke", ["TRUNCATE"], None), ("revoke", ["INSERT"], ["b"])]
    assert after == state(["SELECT"])


def test_not_exclusive_keeps_what_is_not_declared():
    steps, after = og.plan_table(state(["TRUNCATE"]), state(["SELECT"]), exclusive=False)
    assert steps == [("grant", ["SELECT"], None)]
    assert after == state(["SELECT", "TRUNCATE"])


def test_a_table_revoke_takes_the_column_grants_of_its_kind_so_they_are_granted_again():
    # PostgreSQL: REVOKE SELECT ON t also revokes SELECT (a) ON t.
    steps, after = og.plan_table(state(["SELECT"], a=["SELECT"]), state(a=["SELECT"]))
    assert steps == [("revoke", ["SELECT"], None), ("grant", ["SELECT"], ["a"])]
    assert after == state(a=["SELECT"])


def test_exclusive_plans_tables_that_are_not_declared():
    plans, after = og.plan_database({("public", "other"): state(["SELECT"])}, {("public", "t"): state(["SELECT"])})
    assert plans == [
        ("public", "other", [("revoke", ["SELECT"], None)]),
        ("public", "t", [("grant", ["SELECT"], None)]),
    ]
    assert after == {("public", "t"): state(["SELECT"])}


def test_grants_are_described_in_the_shape_the_module_takes():
    described = og.describe(
        "finance",
        {
            ("public", "cards"): state(["DELETE"], number=["SELECT", "UPDATE"], holder=["SELECT"]),
            ("My S", "T"): state(["SELECT"]),
        },
    )
    assert described == [
        {"database": "finance", "table": '"My S"."T"', "privileges": ["SELECT"]},
        {"database": "finance", "table": "public.cards", "privileges": ["DELETE"]},
        {"database": "finance", "table": "public.cards", "privileges": ["SELECT"], "columns": ["holder", "number"]},
        {"database": "finance", "table": "public.cards", "privileges": ["UPDATE"], "columns": ["number"]},
    ]
