"""The canary's planning: which sessions, what each should log, where the log goes (pure)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import canary

# The example inventory's scope, as pgaudit_scope normalises it.
SCOPE = {
    "system": {"pgaudit.log": "write, ddl", "pgaudit.log_catalog": "off"},
    "databases": {"finance": {"pgaudit.log": "read, write"}, "warehouse": {"pgaudit.log_relation": "on"}},
    "roles": {
        "auditor": {"pgaudit.log": "all"},
        "quiet_user": {"pgaudit.log": "none"},
        "etl_loader": {"pgaudit.log": "none", "database": "warehouse"},
        "tuner": {"pgaudit.log_level": "notice"},
    },
}


@pytest.mark.parametrize(
    "database, role, expect, source",
    [
        ("postgres", None, "write, ddl", "system"),
        ("finance", None, "read, write", "database finance"),
        # A database scope without pgaudit.log leaves the system's.
        ("warehouse", None, "write, ddl", "system"),
        ("postgres", "auditor", "all", "role auditor"),
        ("finance", "auditor", "all", "role auditor"),
        ("postgres", "quiet_user", "none", "role quiet_user"),
        ("warehouse", "etl_loader", "none", "role etl_loader in database warehouse"),
        # A role-in-database value does not reach the role's sessions elsewhere.
        ("finance", "etl_loader", "read, write", "database finance"),
        ("postgres", "tuner", "write, ddl", "system"),
        ("postgres", "nobody", "write, ddl", "system"),
    ],
)
def test_the_effective_log_is_the_most_specific_declared_value(database, role, expect, source):
    assert canary.effective_log(SCOPE, database, role) == (expect, source)


def test_one_session_per_declared_scope_each_with_what_it_should_log():
    sessions = canary.plan_sessions(SCOPE, "postgres")
    assert [(s["scope"], s["database"], s["role"], s["expect"]) for s in sessions] == [
        ("system", "postgres", None, "write, ddl"),
        ("database:finance", "finance", None, "read, write"),
        ("database:warehouse", "warehouse", None, "write, ddl"),
        ("role:auditor", "postgres", "auditor", "all"),
        ("role:etl_loader", "warehouse", "etl_loader", "none"),
        ("role:quiet_user", "postgres", "quiet_user", "none"),
        ("role:tuner", "postgres", "tuner", "write, ddl"),
    ]


def test_no_declared_log_is_none():
    assert canary.effective_log({"system": {}}, "postgres") == ("none", "system")


@pytest.mark.parametrize(
    "expect, logged",
    [
        ("none", set()),
        ("write, ddl", {"write", "ddl"}),
        ("all, -ddl", {"write", "read", "function"}),
        ("misc", set()),
    ],
)
def test_which_probe_lines_a_value_should_produce(expect, logged):
    assert {name for name, wanted in canary.expected_classes(expect).items() if wanted} == logged


@pytest.mark.parametrize(
    "line, label, found",
    [
        ("2026-11-30 LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,,,\"INSERT ... ('m1')\",<none>", "WRITE", True),
        ("2026-11-30 LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,,,\"INSERT ... ('m1')\",<none>", "READ", False),
        ("2026-11-30 LOG:  AUDIT: OBJECT,1,1,WRITE,INSERT,TABLE,t,\"INSERT ... ('m1')\",<none>", "WRITE", False),
        ("2026-11-30 LOG:  statement: INSERT ... ('m1')", "WRITE", False),
        ("2026-11-30 LOG:  AUDIT: SESSION,1,1,WRITE,INSERT,,,INSERT ... ('m2'),<none>", "WRITE", False),
    ],
)
def test_a_probe_is_found_by_its_session_line_class_and_marker(line, label, found):
    assert canary.audit_line_matches(line, label, "m1") is found


@pytest.mark.parametrize(
    "link, path, problem, kind",
    [
        ("/var/log/postgresql/postgresql-15-main.log", "/var/log/postgresql/postgresql-15-main.log", None, "file"),
        ("/var/log/postgresql/postgresql-15-main.log (deleted)", None, "which was deleted", "file"),
        ("/dev/null", None, "/dev/null", "file"),
        ("socket:[12345]", None, None, "journald"),
        ("pipe:[12345]", None, None, "journald"),
    ],
)
def test_where_the_servers_standard_error_goes(link, path, problem, kind):
    got_path, got_problem, got_kind = canary.stderr_target(link)
    assert (got_path, got_kind) == (path, kind)
    assert (problem is None and got_problem is None) or problem in got_problem
