"""Drift: the inventory's declared scope against hand-written audit facts, compared by meaning,
so it lists exactly what site.yml --check --diff would change."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils.pgaudit_scope import compose_scope
from ansible_collections.pgtrail.audit.plugins.plugin_utils.drift import drift


def entry(scope, target, name, value, database=None, role=None):
    return dict(scope=scope, target=target, database=database, role=role, name=name, value=value, source={})


def facts(*entries):
    return {"pgaudit": {"settings_by_scope": list(entries)}}


DECLARED = compose_scope(
    profile="none",
    log=["write", "ddl"],
    databases={"finance": {"log": ["read", "write"]}},
    roles={"auditor": {"log": "all"}, "etl_loader": {"log": "none", "database": "warehouse"}},
    log_off_allowed=["role:etl_loader"],
)

CONVERGED = facts(
    entry("system", None, "pgaudit.log", "write, ddl"),
    entry("database", "finance", "pgaudit.log", "read, write", database="finance"),
    entry("role", "auditor", "pgaudit.log", "all", role="auditor"),
    entry("role_in_database", "etl_loader@warehouse", "pgaudit.log", "none", database="warehouse", role="etl_loader"),
)


def test_a_converged_host_has_no_drift():
    assert drift(DECLARED, CONVERGED) == []


def test_a_database_value_changed_by_hand_is_the_only_drift():
    changed = facts(*CONVERGED["pgaudit"]["settings_by_scope"][:1])
    changed["pgaudit"]["settings_by_scope"] += [
        entry("database", "finance", "pgaudit.log", "none", database="finance"),
        *CONVERGED["pgaudit"]["settings_by_scope"][2:],
    ]
    assert drift(DECLARED, changed) == [
        {
            "scope": "database",
            "target": "finance",
            "setting": "pgaudit.log",
            "declared": "read, write",
            "actual": "none",
        }
    ]


def test_values_that_differ_only_in_spelling_are_no_drift():
    spelled = facts(
        entry("system", None, "pgaudit.log", "DDL,Write"),
        entry("database", "finance", "pgaudit.log", "write,read", database="finance"),
        entry("role", "auditor", "pgaudit.log", "read, write, function, role, ddl, misc", role="auditor"),
        entry(
            "role_in_database", "etl_loader@warehouse", "pgaudit.log", "none", database="warehouse", role="etl_loader"
        ),
    )
    assert drift(DECLARED, spelled) == []


def test_a_declared_value_set_at_no_scope_is_drift_with_actual_null():
    missing = facts(*CONVERGED["pgaudit"]["settings_by_scope"][1:])
    assert drift(DECLARED, missing) == [
        {"scope": "system", "target": None, "setting": "pgaudit.log", "declared": "write, ddl", "actual": None}
    ]


def test_role_in_database_targets_are_role_at_database():
    declared = compose_scope(profile="none", roles={"etl_loader": {"log": "read", "database": "warehouse"}})
    (found,) = drift(declared, facts())
    assert found["scope"] == "role_in_database" and found["target"] == "etl_loader@warehouse"


def test_unlisted_values_are_drift_only_with_remove_unlisted():
    extra = facts(*CONVERGED["pgaudit"]["settings_by_scope"], entry("database", "finance", "pgaudit.log_rows", "on"))
    assert drift(DECLARED, extra) == []
    assert drift(DECLARED, extra, remove_unlisted=True) == [
        {"scope": "database", "target": "finance", "setting": "pgaudit.log_rows", "declared": None, "actual": "on"}
    ]


def test_values_set_on_undeclared_scopes_are_not_drift():
    other = facts(*CONVERGED["pgaudit"]["settings_by_scope"], entry("role", "someone", "pgaudit.log", "none"))
    assert drift(DECLARED, other, remove_unlisted=True) == []


def test_facts_without_settings_by_scope_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="no pgaudit.settings_by_scope"):
        drift(DECLARED, {"pgaudit": {"loaded": True}})


def test_a_scope_that_is_not_a_dict_is_refused():
    with pytest.raises(ValueError, match="declared scope"):
        drift(["write"], CONVERGED)
