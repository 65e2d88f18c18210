"""The pgaudit_settings module's planning between its reads and its writes (pure)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_apply as apply
from ansible_collections.pgtrail.audit.plugins.module_utils.pgaudit_settings import profile_settings


def params(**given):
    base = dict(profile=None, system=None, databases=None, roles=None, server_settings=None)
    base.update(given)
    return base


@pytest.mark.parametrize(
    "profile, system, expected",
    [
        (None, None, None),
        (None, {"log": "read"}, {"log": "read"}),
        ("stig", None, profile_settings("stig")),
        # The task's own values win over the profile's.
        ("stig", {"pgaudit.log_catalog": "off"}, dict(profile_settings("stig"), **{"pgaudit.log_catalog": "off"})),
        # The old name is the baseline.
        ("seed", {}, profile_settings("baseline")),
    ],
)
def test_the_system_scope_starts_from_the_profile(profile, system, expected):
    assert apply.system_desired(profile, system) == expected


@pytest.mark.parametrize("name", ["log", "pgaudit.log", " LOG "])
def test_the_task_overrides_a_profile_value_under_either_spelling(name):
    scopes, errors = apply.parse_scopes(params(profile="cis", system={name: "all"}), "1.7")
    assert errors == []
    assert scopes[0].desired == {"pgaudit.log": "all"}


@pytest.mark.parametrize(
    "given, kinds, problem",
    [
        (dict(databases={"finance": {"log": "read"}}), [("database", "finance", None)], None),
        (dict(roles={"etl": {"log": "all"}}), [("role", None, "etl")], None),
        (dict(roles={"etl": {"log": "all", "database": "dw"}}), [("role_in_database", "dw", "etl")], None),
        (dict(roles={"etl": {"log": "all", "database": 5}}), [("role", None, "etl")], "database must be"),
        (dict(databases={"finance": "read"}), [("database", "finance", None)], "expected a dict"),
        (dict(databases={"finance": {"log": "bogus"}}), [("database", "finance", None)], "unknown class 'bogus'"),
        (dict(system={"log_rows": True}), [("system", None, None)], "needs pgaudit 1.6"),
    ],
)
def test_scopes_are_parsed_and_every_problem_named(given, kinds, problem):
    scopes, errors = apply.parse_scopes(params(**given), "1.4")
    assert [(s.kind, s.database, s.role) for s in scopes] == kinds
    if problem is None:
        assert errors == []
    else:
        assert len(errors) == 1 and problem in errors[0]


def test_a_role_in_a_database_is_named_role_at_database():
    scope = apply.Scope("role_in_database", database="dw", role="etl")
    assert scope.target == "etl@dw"
    assert scope.label == "role etl in database dw"


AUTO = {"pgaudit.log"}
ELSEWHERE = {"pgaudit.log_catalog": "/etc/postgresql/15/main/conf.d/audit.conf line 2"}


@pytest.mark.parametrize(
    "action, loaded, version, kept, warning",
    [
        (("set", "pgaudit.log", "all"), True, 150000, True, None),
        (("reset", "pgaudit.log"), True, 150000, True, None),
        # Only postgresql.auto.conf can be reset with ALTER SYSTEM.
        (("reset", "pgaudit.log_catalog"), True, 170000, False, "ALTER SYSTEM cannot remove it"),
        # A misspelt pgaudit.* name while pgaudit is loaded: PostgreSQL 15 and 16 refuse it.
        (("reset", "pgaudit.lgo"), True, 160000, False, "refuses ALTER SYSTEM"),
    ],
)
def test_system_actions_alter_system_cannot_do_are_left_with_a_warning(action, loaded, version, kept, warning):
    in_auto = AUTO | {"pgaudit.lgo"}
    actions, warnings = apply.keep_system_actions([action], in_auto, ELSEWHERE, loaded, version)
    assert actions == ([action] if kept else [])
    assert (warning is None) == (warnings == []) and all(warning in w for w in warnings)


def test_a_reset_that_uncovers_a_file_value_says_so():
    actions, warnings = apply.keep_system_actions(
        [("reset", "pgaudit.log")], AUTO, {"pgaudit.log": "/etc/x.conf line 9"}, True, 170000
    )
    assert actions == [("reset", "pgaudit.log")]
    assert warnings == ["pgaudit.log is also set in /etc/x.conf line 9, which applies once it is reset"]


def test_staged_values_keep_the_last_row_and_where_it_comes_from():
    rows = [
        dict(name="pgaudit.log", setting="ddl", sourcefile="/etc/p.conf", sourceline=3),
        dict(name="pgaudit.log", setting="all", sourcefile="/data/postgresql.auto.conf", sourceline=1),
        dict(name="Log_Connections", setting="on", sourcefile="/etc/p.conf", sourceline=4),
    ]
    staged, in_auto, elsewhere = apply.staged_values(rows, "/data/")
    assert staged == {"pgaudit.log": "all", "log_connections": "on"}
    assert in_auto == {"pgaudit.log"}
    assert elsewhere == {"pgaudit.log": "/etc/p.conf line 3", "log_connections": "/etc/p.conf line 4"}


@pytest.mark.parametrize(
    "system_log, value, warned",
    [
        ("write, ddl", "read", True),  # drops write and ddl
        ("write, ddl", "all", False),
        (None, "none", False),  # no system value: nothing to weaken
    ],
)
def test_a_database_value_that_logs_less_than_the_system_is_warned(system_log, value, warned):
    scope = apply.Scope("database", database="finance")
    scope.actions = [("set", "pgaudit.log", value)]
    warnings = apply.weakening_warnings([scope], system_log)
    assert bool(warnings) is warned
    if warned:
        assert warnings[0].startswith("database finance: pgaudit.log 'read' does not log ddl, write")


def test_the_system_value_being_set_is_what_weakening_compares_with():
    system = apply.Scope("system", desired={"pgaudit.log": "all"})
    role = apply.Scope("role", role="etl")
    role.actions = [("set", "pgaudit.log", "write")]
    assert "does not log ddl, function, misc, misc_set, read, role" in apply.weakening_warnings([system, role], None)[0]


def test_changes_and_diff_describe_every_scope_and_server_setting():
    scope = apply.Scope("role_in_database", database="dw", role="etl")
    scope.current = {"pgaudit.log": "read"}
    scope.actions = [("set", "pgaudit.log", "all"), ("reset", "pgaudit.log_level")]
    server = {"log_connections": dict(running="off", value="on", vartype="bool", context="superuser-backend")}
    actions = apply.plan_server(server, {})
    changes, diff = apply.describe([scope], actions, server)
    assert changes == [
        dict(scope="role_in_database", target="etl@dw", name="pgaudit.log", before="read", after="all", database="dw",
             role="etl"),
        dict(scope="role_in_database", target="etl@dw", name="pgaudit.log_level", before=None, after=None,
             database="dw", role="etl"),
        dict(scope="system", target=None, name="log_connections", before="off", after="on"),
    ]  # fmt: skip
    assert diff["before"] == {"role etl in database dw": {"pgaudit.log": "read"}, "system": {"log_connections": "off"}}
    assert diff["after"] == {"role etl in database dw": {"pgaudit.log": "all"}, "system": {"log_connections": "on"}}


@pytest.mark.parametrize(
    "staged, running, value, context, pending",
    [
        ({}, "100", "200", "postmaster", True),  # staged now, running the old value
        ({"max_connections": "200"}, "200", "200", "postmaster", False),  # already running
        ({}, "off", "on", "sighup", False),  # a reload is enough
        ({"max_connections": "200"}, "100", "200", "postmaster", True),  # staged before, not restarted
    ],
)
def test_a_postmaster_parameter_waits_for_a_restart(staged, running, value, context, pending):
    server = {"max_connections": dict(running=running, value=value, vartype="integer", context=context)}
    actions = apply.plan_server(server, staged)
    assert apply.pending_restart(server, actions) == (["max_connections"] if pending else [])


def test_server_settings_refuse_pgaudit_names_and_unknown_parameters():
    names, errors = apply.server_setting_names({"pgaudit.log": "all", "Log_Connections": True, "nope": 1})
    assert names == {"log_connections": "Log_Connections", "nope": "nope"}
    assert errors == ["server_settings: pgaudit.log is a pgaudit setting; give it in 'system'"]
    rows = {"log_connections": dict(name="log_connections", vartype="bool", context="superuser-backend")}
    server, errors = apply.check_server_settings({"Log_Connections": True, "nope": 1}, names, rows, 17)
    assert server["log_connections"]["value"] == "on"
    assert errors == ["server_settings: unknown parameter(s) 'nope' (not in pg_settings on PostgreSQL 17)"]
