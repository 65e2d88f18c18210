"""Role settings that reach no session (NOLOGIN roles) and databases no session can open: the
pure shaping behind the pgaudit_settings warning, audit_info's facts and the fleet report."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts
from ansible_collections.pgtrail.audit.plugins.plugin_utils import report


def entry(scope, role, name="pgaudit.log", value="all", database=None):
    target = "%s@%s" % (role, database) if database else role
    return dict(scope=scope, target=target, role=role, database=database, name=name, value=value)


ROLES = [
    {"rolname": "dba_team", "rolcanlogin": False, "login_members": ["alice", "bob"]},
    {"rolname": "empty_group", "rolcanlogin": False, "login_members": []},
    {"rolname": "auditor", "rolcanlogin": True, "login_members": []},
]


@pytest.mark.parametrize(
    "entries, expected",
    [
        # A NOLOGIN role, at role and at role-in-database scope.
        ([entry("role", "dba_team")], [("role", "dba_team", ["alice", "bob"], {"pgaudit.log": "all"})]),
        (
            [entry("role_in_database", "dba_team", database="finance")],
            [("role_in_database", "dba_team@finance", ["alice", "bob"], {"pgaudit.log": "all"})],
        ),
        # Several settings of one role are one finding.
        (
            [entry("role", "dba_team"), entry("role", "dba_team", "pgaudit.log_relation", "on")],
            [("role", "dba_team", ["alice", "bob"], {"pgaudit.log": "all", "pgaudit.log_relation": "on"})],
        ),
        # A group without login members is still a setting that reaches no one.
        ([entry("role", "empty_group")], [("role", "empty_group", [], {"pgaudit.log": "all"})]),
        # Login roles, database and system scopes, and roles the catalog does not know are no finding.
        ([entry("role", "auditor"), entry("role", "ghost")], []),
        ([dict(entry("database", None), target="finance", database="finance")], []),
    ],
)
def test_unreached_role_settings(entries, expected):
    found = audit_facts.unreached_role_settings(entries, ROLES)
    assert [(f["scope"], f["target"], f["login_members"], f["settings"]) for f in found] == expected


@pytest.mark.parametrize(
    "item, fragments",
    [
        (
            {"role": "dba_team", "database": None, "settings": {"pgaudit.log": "all"}, "login_members": ["alice"]},
            ["role dba_team (pgaudit.log=all) reach no session", "login members alice are not covered"],
        ),
        (
            {"role": "g", "database": "finance", "settings": {"pgaudit.log": "read"}, "login_members": []},
            ["role g in database finance", "it has no login member"],
        ),
    ],
)
def test_the_warning_names_the_role_its_settings_and_whom_they_miss(item, fragments):
    message = audit_facts.unreached_message(item)
    for fragment in fragments:
        assert fragment in message
    assert "does not inherit" in message


def test_closed_databases_say_why():
    rows = [
        {"datname": "archive", "datallowconn": False, "can_connect": True},
        {"datname": "sealed", "datallowconn": True, "can_connect": False},
    ]
    assert audit_facts.closed_databases(rows) == {
        "archive": "does not allow connections (datallowconn is false)",
        "sealed": "does not grant CONNECT to the connecting role",
    }


def test_the_fleet_report_lists_unreached_role_settings_and_closed_databases_per_host():
    unreached = {"scope": "role", "target": "dba_team", "role": "dba_team", "database": None}
    unreached.update(settings={"pgaudit.log": "all"}, login_members=["alice"])
    facts = {
        "server_version": "17.6",
        "unreached_role_settings": [unreached],
        "closed_databases": {"archive": "does not allow connections (datallowconn is false)"},
    }
    model = report.fleet_model({"db1": {"facts": facts, "checks": [], "drift": []}, "db2": {"error": "down"}})
    assert model["unreached_role_settings"] == [dict(unreached, host="db1")]
    assert model["closed_databases"] == [
        {"host": "db1", "database": "archive", "reason": "does not allow connections (datallowconn is false)"}
    ]
