"""The role's inventory becomes module arguments, or one error naming every bad entry."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils.pgaudit_scope import compose_scope


def test_the_seed_profile_is_the_default():
    scope = compose_scope()
    assert scope["system"] == {
        "pgaudit.log": "write, ddl",
        "pgaudit.log_catalog": "off",
        "pgaudit.log_level": "log",
        "pgaudit.log_parameter": "on",
        "pgaudit.log_statement_once": "on",
    }
    assert scope["databases"] == {} and scope["roles"] == {} and scope["object_audit"] == {}


def test_inventory_values_override_the_profile():
    scope = compose_scope(profile="stig", log=["WRITE", "ddl"], settings={"log_catalog": False})
    assert scope["system"]["pgaudit.log"] == "write, ddl"
    assert scope["system"]["pgaudit.log_catalog"] == "off"
    assert scope["system"]["pgaudit.log_parameter"] == "on"


def test_profile_none_sets_only_what_the_inventory_lists():
    assert compose_scope(profile="none", log="read") == {
        "system": {"pgaudit.log": "read"},
        "databases": {},
        "roles": {},
        "object_audit": {},
    }


def test_database_role_and_role_in_database_scopes():
    scope = compose_scope(
        databases={"finance": {"log": ["read", "write"]}},
        roles={"auditor": {"log": "all"}, "etl_loader": {"log": "none", "database": "warehouse"}},
    )
    assert scope["databases"] == {"finance": {"pgaudit.log": "read, write"}}
    assert scope["roles"]["auditor"] == {"pgaudit.log": "all"}
    assert scope["roles"]["etl_loader"] == {"pgaudit.log": "none", "database": "warehouse"}


def test_object_audit_sets_pgaudit_role_and_upper_cases_privileges():
    scope = compose_scope(
        object_audit={
            "role": "audit_objects",
            "grants": [{"database": "finance", "table": "public.payments", "privileges": ["select"]}],
        }
    )
    assert scope["system"]["pgaudit.role"] == "audit_objects"
    assert scope["object_audit"]["grants"] == [
        {"database": "finance", "table": "public.payments", "privileges": ["SELECT"]}
    ]


def test_every_problem_is_reported_at_once_with_where_it_came_from():
    with pytest.raises(ValueError) as err:
        compose_scope(
            log=["write", "bogus"],
            databases={"finance": {"log": ["reed"]}},
            roles={"auditor": {"log_levle": "log"}},
            object_audit={"grants": [{"database": "finance", "table": "t", "privileges": ["TRUNCATE"]}]},
        )
    message = str(err.value)
    assert message.startswith("4 problem(s)")
    assert "pgaudit_log" in message and "bogus" in message
    assert "pgaudit_databases.finance" in message and "reed" in message
    assert "pgaudit_roles.auditor" in message and "log_levle" in message
    assert "TRUNCATE is not covered" in message


def test_an_unknown_profile_is_named():
    with pytest.raises(ValueError, match="pgaudit_profile.*hipaa"):
        compose_scope(profile="hipaa")


@pytest.mark.parametrize(
    "grant, message",
    [
        ({"table": "a..b"}, "empty identifier in 'a..b'"),
        ({"table": 'public."Äpfel'}, "unterminated quoted identifier"),
        ({"table": "public.t", "columns": ["x.y"]}, "column 'x.y' must be a single name"),
        ({"table": "public." + "ü" * 32}, 'it would store "%s"' % ("ü" * 31)),
    ],
)
def test_object_audit_names_are_read_as_sql_before_any_host_changes(grant, message):
    with pytest.raises(ValueError) as err:
        compose_scope(object_audit={"grants": [dict(grant, database="finance")]})
    assert "pgaudit_object_audit.grants[0]: " in str(err.value) and message in str(err.value)


def test_an_object_audit_role_postgresql_would_cut_is_refused():
    with pytest.raises(ValueError, match="pgaudit_object_audit.role 'x+': name x+ is 64 bytes"):
        compose_scope(object_audit={"role": "x" * 64, "grants": []})
