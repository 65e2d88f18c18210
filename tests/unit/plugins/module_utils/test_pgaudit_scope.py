"""The role's inventory becomes module arguments, or one error naming every bad entry."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils.pgaudit_scope import (
    NAME_ALIASES,
    check_names,
    compose_scope,
)


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
        "log_off": [],
        "server": {},
    }


def test_the_coverage_profile_brings_the_server_settings_it_needs_and_the_others_none():
    assert compose_scope(profile="coverage")["server"] == {
        "log_connections": "on",
        "log_disconnections": "on",
        "log_min_messages": "warning",
        "log_min_error_statement": "error",
    }
    assert compose_scope(profile="coverage")["system"]["pgaudit.log"] == "read, write, role, ddl, misc_set"
    assert compose_scope(profile="stig")["server"] == compose_scope(profile="seed")["server"] == {}


def test_database_role_and_role_in_database_scopes():
    scope = compose_scope(
        databases={"finance": {"log": ["read", "write"]}},
        roles={"auditor": {"log": "all"}, "etl_loader": {"log": "none", "database": "warehouse"}},
        log_off_allowed=["role:etl_loader"],
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


# Every value that turns auditing off at a scope, at every scope: refused without the opt-in.
OFF_VALUES = ["none", "NONE", "", "  ", [], "-misc", "read, -read", "none, -all"]
SCOPES = [
    ("system", "pgaudit_log", "system-wide", lambda v: dict(log=v)),
    ("system", "pgaudit_settings.log", "system-wide", lambda v: dict(settings={"log": v})),
    (
        "database:scratch",
        "pgaudit_databases.scratch",
        "database scratch",
        lambda v: dict(databases={"scratch": {"log": v}}),
    ),
    (
        "role:etl_loader",
        "pgaudit_roles.etl_loader",
        "role etl_loader",
        lambda v: dict(roles={"etl_loader": {"log": v}}),
    ),
    (
        "role:etl_loader",
        "pgaudit_roles.etl_loader",
        "role etl_loader in database warehouse",
        lambda v: dict(roles={"etl_loader": {"log": v, "database": "warehouse"}}),
    ),
]


@pytest.mark.parametrize("value", OFF_VALUES, ids=repr)
@pytest.mark.parametrize("scope, variable, where, inventory", SCOPES, ids=[s[1] + ":" + s[2] for s in SCOPES])
def test_a_value_that_turns_auditing_off_is_refused_naming_the_scope_and_the_opt_in(
    value, scope, variable, where, inventory
):
    with pytest.raises(ValueError) as err:
        compose_scope(**inventory(value))
    message = str(err.value)
    assert variable in message and where in message and "logs nothing" in message
    assert "add '%s' to pgaudit_log_off_allowed" % scope in message


@pytest.mark.parametrize("value", OFF_VALUES, ids=repr)
@pytest.mark.parametrize("scope, variable, where, inventory", SCOPES, ids=[s[1] + ":" + s[2] for s in SCOPES])
def test_with_the_opt_in_the_scope_is_accepted_and_listed(value, scope, variable, where, inventory):
    result = compose_scope(log_off_allowed=[scope], **inventory(value))
    assert result["log_off"] == [{"scope": scope, "where": result["log_off"][0]["where"], "value": "none"}]
    assert where in result["log_off"][0]["where"]


def test_the_opt_in_of_one_scope_does_not_cover_another():
    with pytest.raises(ValueError) as err:
        compose_scope(
            log="",
            databases={"scratch": {"log": "none"}},
            roles={"quiet": {"log": []}},
            log_off_allowed=["database:scratch"],
        )
    message = str(err.value)
    assert message.startswith("2 problem(s)")
    assert "'system'" in message and "'role:quiet'" in message and "'database:scratch' to" not in message


def test_every_off_scope_is_listed():
    result = compose_scope(
        log="none",
        databases={"scratch": {"log": "none"}, "finance": {"log": "read"}},
        roles={"quiet": {"log": "-misc"}, "auditor": {"log": "all"}},
        log_off_allowed=["system", "database:scratch", "role:quiet"],
    )
    assert [entry["scope"] for entry in result["log_off"]] == ["system", "database:scratch", "role:quiet"]


@pytest.mark.parametrize(
    "allowed", ["everything", ["everything"], ["database:"], ["role"], [3], {"system": True}], ids=repr
)
def test_a_malformed_opt_in_is_refused(allowed):
    with pytest.raises(ValueError, match="pgaudit_log_off_allowed"):
        compose_scope(log_off_allowed=allowed)


@pytest.mark.parametrize("value", ["read,,write", "write,", ["write", ""]], ids=repr)
def test_an_empty_element_is_refused_as_pgaudit_refuses_it(value):
    with pytest.raises(ValueError, match="pgaudit_log.*not a list pgaudit accepts"):
        compose_scope(log=value)


def test_the_opt_in_given_with_e_as_a_comma_string():
    result = compose_scope(log="", roles={"quiet": {"log": "none"}}, log_off_allowed="system, role:quiet")
    assert [entry["scope"] for entry in result["log_off"]] == ["system", "role:quiet"]


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


@pytest.mark.parametrize(
    "given, named",
    [
        (dict(log=["write"], settings={"log": "ddl"}), ["pgaudit_log", "pgaudit_settings.log"]),
        (dict(log="write", settings={"pgaudit.log": "write"}), ["pgaudit_log", "pgaudit_settings.pgaudit.log"]),
        (dict(log="write", settings={" LOG ": "write"}), ["pgaudit_log", "pgaudit_settings. LOG "]),
        (
            dict(object_audit={"role": "auditor_objects"}, settings={"role": "other"}),
            ["pgaudit_object_audit", "pgaudit_settings.role"],
        ),
        (
            dict(object_audit={"grants": [{"database": "d", "table": "t"}]}, settings={"pgaudit.role": "x"}),
            ["pgaudit_object_audit", "pgaudit_settings.pgaudit.role"],
        ),
    ],
)
def test_a_setting_given_twice_is_refused_naming_both_places(given, named):
    with pytest.raises(ValueError) as err:
        compose_scope(**given)
    for where in named:
        assert where in str(err.value)
    assert "give it once" in str(err.value)


@pytest.mark.parametrize(
    "given",
    [
        dict(log="write"),
        dict(settings={"log": "write"}),
        dict(settings={"role": "r"}),
        dict(object_audit={"role": "r"}),
    ],
)
def test_a_setting_given_once_in_either_place_is_taken(given):
    scope = compose_scope(**given)
    assert scope["system"].get("pgaudit.log", "write, ddl") in ("write", "write, ddl")
    assert scope["system"].get("pgaudit.role", "r") == "r"


@pytest.mark.parametrize("profile", ["baseline", "seed", "Baseline"])
def test_baseline_is_the_default_profile_and_seed_its_deprecated_name(profile):
    assert compose_scope(profile=profile)["system"] == compose_scope()["system"]
    assert compose_scope()["system"]["pgaudit.log"] == "write, ddl"


@pytest.mark.parametrize(
    "given, deprecated",
    [
        ({}, []),
        ({"pgtrail_connection": {"port": 5433}}, []),
        ({"pgaudit_connection": {"port": 5433}}, ["pgaudit_connection"]),
        ({"audit_triggers_become_user": "dba", "pgtrail_become_user": "dba"}, ["audit_triggers_become_user"]),
        (
            {"pgaudit_install_packages": False, "audit_triggers_install_packages": False},
            ["pgaudit_install_packages", "audit_triggers_install_packages"],
        ),
        ({"pgtrail_report_profiles": ["cis"]}, ["pgtrail_report_profiles"]),
        # -e gives strings: one boolean, however spelled, is no disagreement.
        (
            {
                "pgaudit_install_packages": "yes",
                "audit_triggers_install_packages": "true",
                "pgtrail_install_packages": True,
            },
            ["pgaudit_install_packages", "audit_triggers_install_packages"],
        ),
    ],
)
def test_each_old_name_set_is_a_deprecation_naming_its_one_name(given, deprecated):
    deprecations, errors = check_names(given)
    assert errors == []
    assert [message.split()[0] for message in deprecations] == sorted(deprecated, key=deprecations_order)
    for message in deprecations:
        assert "set pgtrail_" in message.split(":", 1)[1]


def deprecations_order(name):
    return [old for _new, olds in sorted(NAME_ALIASES.items()) for old in olds].index(name)


@pytest.mark.parametrize(
    "given, named",
    [
        (
            {"pgtrail_connection": {"port": 1}, "pgaudit_connection": {"port": 2}},
            ["pgtrail_connection", "pgaudit_connection"],
        ),
        (
            {"pgaudit_become_user": "a", "audit_triggers_become_user": "b"},
            ["pgaudit_become_user", "audit_triggers_become_user"],
        ),
        ({"pgtrail_report_standards": ["cis"], "pgtrail_report_profiles": ["stig"]}, ["pgtrail_report_profiles"]),
        (
            {"pgaudit_install_packages": "no", "audit_triggers_install_packages": "true"},
            ["audit_triggers_install_packages"],
        ),
    ],
)
def test_two_names_of_one_thing_with_different_values_are_refused_naming_both(given, named):
    _deprecations, errors = check_names(given)
    assert len(errors) == 1
    for name in named:
        assert name in errors[0]


# site.yml's own variables, as -e gives them (strings) or as JSON (numbers, lists): what the play
# keywords serial and max_fail_percentage take passes, anything else is named with its value.
@pytest.mark.parametrize(
    "given, refused",
    [
        ({"pgtrail_serial": "1"}, []),
        ({"pgtrail_serial": 6}, []),
        ({"pgtrail_serial": "25%"}, []),
        ({"pgtrail_serial": ["1", "50%", 10]}, []),
        ({"pgtrail_max_fail_percentage": "0"}, []),
        ({"pgtrail_max_fail_percentage": 100}, []),
        ({"pgtrail_serial": "two"}, ["pgtrail_serial", "got two"]),
        ({"pgtrail_serial": "-1"}, ["pgtrail_serial", "got -1"]),
        ({"pgtrail_serial": "1.5"}, ["pgtrail_serial", "got 1.5"]),
        ({"pgtrail_serial": True}, ["pgtrail_serial", "got True"]),
        ({"pgtrail_serial": ["1", "half"]}, ["pgtrail_serial", "half"]),
        ({"pgtrail_max_fail_percentage": "150"}, ["pgtrail_max_fail_percentage", "got 150"]),
        ({"pgtrail_max_fail_percentage": "10%"}, ["pgtrail_max_fail_percentage", "got 10%"]),
        ({"pgtrail_max_fail_percentage": -5}, ["pgtrail_max_fail_percentage", "got -5"]),
    ],
)
def test_site_playbook_variables_that_its_play_keywords_refuse_are_errors_naming_the_value(given, refused):
    deprecations, errors = check_names(given)
    assert deprecations == []
    if not refused:
        assert errors == []
    else:
        assert len(errors) == 1
        for fragment in refused:
            assert fragment in errors[0], (fragment, errors)
