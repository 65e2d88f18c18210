"""The effective pgaudit policy of every login (pgaudit's precedence, computed from the catalog)
and who can switch auditing off, from the rows audit_info reads."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_facts

DATA = "/var/lib/postgresql/17/main"
AUTO = DATA + "/postgresql.auto.conf"


def setting(name, value, source, sourcefile=None, sourceline=None, boot_val=None):
    return dict(
        name=name, setting=value, source=source, sourcefile=sourcefile, sourceline=sourceline, boot_val=boot_val
    )


# --- what a session starts from --------------------------------------------------------------


@pytest.mark.parametrize(
    "row, staged, expected",
    [
        # Set in a file and running: the file and line.
        (setting("pgaudit.log", "ddl", "configuration file", AUTO, 3, "none"), {},
         dict(value="ddl", scope="system", via="ALTER SYSTEM", file=AUTO, line=3)),
        # Not set anywhere: the default.
        (setting("pgaudit.log", "none", "default", boot_val="none"), {},
         dict(value="none", scope="default", via="default", file=None, line=None)),
        # Staged in a file but not reloaded yet: sessions still get the default.
        (setting("pgaudit.log", "none", "default", boot_val="none"),
         {"pgaudit.log": {"value": "read", "source": dict(file=AUTO, line=2, via="ALTER SYSTEM")}},
         dict(value="none", scope="default", via="default", file=None, line=None)),
        # The reading role's own value (ALTER ROLE postgres SET ...) hides the system one: the files say it.
        (setting("pgaudit.log", "none", "user", boot_val="none"),
         {"pgaudit.log": {"value": "write", "source": dict(file="/etc/a.conf", line=7, via="config file")}},
         dict(value="write", scope="system", via="config file", file="/etc/a.conf", line=7)),
        # ... and the default when no file sets it (ALTER ROLE ALL too: source "global").
        (setting("pgaudit.log", "all", "global", boot_val="none"), {},
         dict(value="none", scope="default", via="default", file=None, line=None)),
        # pgaudit not loaded: the files, else pgaudit's default.
        (None, {"pgaudit.log": {"value": "ddl", "source": dict(file=AUTO, line=1, via="ALTER SYSTEM")}},
         dict(value="ddl", scope="system", via="ALTER SYSTEM", file=AUTO, line=1)),
        (None, {}, dict(value="none", scope="default", via="default", file=None, line=None)),
    ],
    ids=["file", "default", "staged-not-reloaded", "own-role-value-hides", "alter-role-all-hides", "not-loaded",
         "not-loaded-nothing"],
)  # fmt: skip
def test_the_system_value_is_what_a_new_session_starts_from(row, staged, expected):
    system = audit_facts.system_policy([row] if row else [], staged, DATA)
    assert system["pgaudit.log"] == expected


def test_staged_booleans_are_shown_as_show_prints_them():
    staged = {"pgaudit.log_relation": {"value": "true", "source": dict(file=AUTO, line=1, via="ALTER SYSTEM")}}
    assert audit_facts.system_policy([], staged, DATA)["pgaudit.log_relation"]["value"] == "on"


# --- precedence -------------------------------------------------------------------------------

SYSTEM = {
    "pgaudit.log": dict(value="ddl, role", scope="system", via="ALTER SYSTEM", file=AUTO, line=1),
    "pgaudit.log_relation": dict(value="off", scope="default", via="default", file=None, line=None),
}
LOGINS = [{"rolname": "alice", "rolsuper": False}, {"rolname": "bob", "rolsuper": False}]


def entry(scope, value, database=None, role=None, name="pgaudit.log"):
    target = {"all_roles": "ALL", "database": database, "role": role}.get(scope, "%s@%s" % (role, database))
    return dict(scope=scope, target=target, database=database, role=role, name=name, value=value)


def cell(cells, login, database):
    return next(c for c in cells if c["login"] == login and c["database"] == database)


@pytest.mark.parametrize(
    "entries, value, source",
    [
        ([], "ddl, role", "system"),
        ([entry("database", "write", database="app")], "write", "database"),
        ([entry("role", "read", role="alice")], "read", "role"),
        ([entry("role_in_database", "misc", "app", "alice")], "misc", "role_in_database"),
        ([entry("all_roles", "all")], "all", "all_roles"),
        # All scopes set: role in database wins, then role, then database, then ALTER ROLE ALL.
        ([entry("all_roles", "all"), entry("database", "write", database="app"), entry("role", "read", role="alice"),
          entry("role_in_database", "misc", "app", "alice")], "misc", "role_in_database"),
        ([entry("all_roles", "all"), entry("database", "write", database="app"), entry("role", "read", role="alice")],
         "read", "role"),
        ([entry("all_roles", "all"), entry("database", "write", database="app")], "write", "database"),
        # Another login's, another database's values do not apply.
        ([entry("role", "read", role="bob"), entry("database", "write", database="other"),
          entry("role_in_database", "misc", "other", "alice")], "ddl, role", "system"),
        # A value the server refuses is skipped (a WARNING at session start): the next scope's applies.
        ([entry("role", "bogus", role="alice"), entry("database", "write", database="app")], "write", "database"),
        # 'none' at one scope is a value like any other: it wins over the wider scopes.
        ([entry("role", "none", role="alice"), entry("database", "all", database="app")], "none", "role"),
    ],
    ids=["system", "database", "role", "role-in-database", "alter-role-all", "all-four", "role-over-database",
         "database-over-all", "others-values", "invalid-skipped", "none"],
)  # fmt: skip
def test_the_most_specific_valid_value_applies(entries, value, source):
    cells = audit_facts.effective_policy(LOGINS, ["app", "other"], entries, SYSTEM)
    alice = cell(cells, "alice", "app")
    assert (alice["settings"]["pgaudit.log"], alice["sources"]["pgaudit.log"]) == (value, source)
    assert len(cells) == 4


def test_every_setting_is_resolved_on_its_own_and_shown_as_show_prints_it():
    entries = [
        entry("role", "none", role="alice"),
        entry("database", "TRUE", database="app", name="pgaudit.log_relation"),
    ]
    alice = cell(audit_facts.effective_policy(LOGINS, ["app"], entries, SYSTEM), "alice", "app")
    assert alice["settings"] == {"pgaudit.log": "none", "pgaudit.log_relation": "on"}
    assert alice["sources"] == {"pgaudit.log": "role", "pgaudit.log_relation": "database"}


def test_logins_weaker_than_the_system_and_ignored_values_are_flagged():
    entries = [
        entry("role", "ddl", role="alice"),
        entry("role_in_database", "read, nonsense", "app", "alice"),
        entry("role_in_database", "-misc", "app", "bob"),
    ]
    cells = audit_facts.effective_policy(LOGINS, ["app"], entries, SYSTEM)
    alice = cell(cells, "alice", "app")
    assert (alice["settings"]["pgaudit.log"], alice["classes_dropped"]) == ("ddl", ["role"])
    assert [(i["scope"], i["value"]) for i in alice["ignored"]] == [("role_in_database", "read, nonsense")]
    bob = cell(cells, "bob", "app")
    assert bob["classes_dropped"] == ["ddl", "role"] and bob["settings"]["pgaudit.log"] == "-misc"
    assert bob["ignored"] == []


def test_a_group_roles_settings_are_named_on_the_members_they_do_not_reach():
    unreached = [
        dict(scope="role", target="dba", role="dba", database=None, settings={"pgaudit.log": "all"},
             login_members=["alice"]),
        dict(scope="role_in_database", target="ops@other", role="ops", database="other",
             settings={"pgaudit.log": "all"}, login_members=["alice", "bob"]),
    ]  # fmt: skip
    cells = audit_facts.effective_policy(LOGINS, ["app", "other"], [], SYSTEM, unreached)
    assert [r["role"] for r in cell(cells, "alice", "app")["not_inherited"]] == ["dba"]
    assert [r["role"] for r in cell(cells, "alice", "other")["not_inherited"]] == ["dba", "ops"]
    assert [r["role"] for r in cell(cells, "bob", "app")["not_inherited"]] == []
    assert cell(cells, "alice", "app")["settings"]["pgaudit.log"] == "ddl, role"


# --- who can switch auditing off -------------------------------------------------------------


def reach(login, role, inherited=True, settable=True, superuser=False, bypassrls=False, replication=False):
    return dict(login=login, role=role, inherited=inherited, settable=settable, superuser=superuser,
                bypassrls=bypassrls, replication=replication)  # fmt: skip


def kinds(found, role):
    return [(f["kind"], f["via"], f["database"], f["what"]) for f in found if f["role"] == role]


@pytest.mark.parametrize(
    "rows, grants, owners, expected",
    [
        ([reach("root", "root", superuser=True), reach("root", "admins", bypassrls=True)], [], {},
         [("superuser", [], None, [])]),
        ([reach("alice", "alice"), reach("alice", "admins", inherited=False, superuser=True)], [], {},
         [("becomes_superuser", ["admins"], None, [])]),
        # Inheriting a superuser role is not being one; only SET ROLE makes the session a superuser.
        ([reach("alice", "alice"), reach("alice", "admins", settable=False, superuser=True)], [], {}, []),
        ([reach("alice", "alice")], [dict(parameter="pgaudit.log", role="alice", privileges=["SET"])], {},
         [("set_parameter", [], None, ["pgaudit.log"])]),
        ([reach("alice", "alice"), reach("alice", "tuners", settable=False)],
         [dict(parameter="pgaudit.log", role="tuners", privileges=["SET"])], {},
         [("set_parameter", ["tuners"], None, ["pgaudit.log"])]),
        ([reach("alice", "alice")], [dict(parameter="pgaudit.role", role="PUBLIC", privileges=["SET"])], {},
         [("set_parameter", ["PUBLIC"], None, ["pgaudit.role"])]),
        # A grant to a role the login neither inherits nor can SET ROLE to does not reach it.
        ([reach("alice", "alice"), reach("alice", "tuners", inherited=False, settable=False)],
         [dict(parameter="pgaudit.log", role="tuners", privileges=["SET"])], {}, []),
        ([reach("alice", "alice", bypassrls=True, replication=True)], [], {},
         [("bypassrls", [], None, []), ("replication", [], None, [])]),
        ([reach("alice", "alice"), reach("alice", "rls", inherited=False, bypassrls=True, replication=True)], [], {},
         [("bypassrls", ["rls"], None, [])]),
        ([reach("alice", "alice"), reach("alice", "app_owner", settable=False)], [],
         {"shop": [dict(table="public.orders", owner="app_owner"), dict(table="public.t", owner="x")],
          "crm": [dict(table="public.c", owner="alice")]},
         [("owns_audited_tables", [], "crm", ["public.c"]),
          ("owns_audited_tables", ["app_owner"], "shop", ["public.orders"])]),
        ([reach("nobody", "nobody"), reach("nobody", "readers")], [], {"shop": [dict(table="t", owner="x")]}, []),
    ],
    ids=["superuser", "becomes-superuser", "inherits-superuser-role-only", "set-parameter", "set-parameter-via-group",
         "set-parameter-public", "grant-out-of-reach", "bypassrls-replication", "bypassrls-by-set-role",
         "owns-audited-tables", "none"],
)  # fmt: skip
def test_who_can_switch_auditing_off(rows, grants, owners, expected):
    found = audit_facts.switch_off(rows, grants, owners)
    login = rows[0]["login"]
    assert kinds(found, login) == expected


@pytest.mark.parametrize(
    "version, inherit, set_",
    [
        (150000, "rolinherit", "true"),
        (160000, "m.inherit_option", "m.set_option"),
        (170002, "inherit_option", "set_option"),
    ],
)
def test_membership_options_count_from_postgresql_16(version, inherit, set_):
    options = audit_facts.role_reach_options(version)
    assert inherit in options["inherit"] and options["set"].endswith(set_)
