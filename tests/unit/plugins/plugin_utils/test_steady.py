"""Whether a host is steady, and which steps of the pgaudit role a steady primary still takes,
from the read (audit_plan's result): one case per condition of the decision."""

import copy

import pytest

from ansible_collections.pgtrail.audit.plugins.plugin_utils.steady import read_decision, read_hosts

SCOPE = {"databases": {"app": {"log": ["write"]}}, "roles": {}, "object_audit": {"role": "auditor", "grants": []}}


def steady_read():
    """A read of a primary on which nothing is left to do."""
    return {
        "major": 17,
        "in_recovery": False,
        "pgaudit": {
            "loaded": True,
            "available_version": "17.1",
            "extension_versions": {"app": "17.1", "postgres": "17.1"},
        },
        "preload": {"pgaudit_staged": True, "restart_required": False},
        "unreachable_databases": [],
        "closed_databases": {},
        "plan": {
            "settings": {"changed": False, "changes": [], "restart_required": False},
            "object_audit": {"changed": False},
        },
    }


def with_changes(read, path, value):
    read = copy.deepcopy(read)
    here = read
    for key in path[:-1]:
        here = here[key]
    if value is KeyError:
        del here[path[-1]]
    else:
        here[path[-1]] = value
    return read


def test_a_host_with_nothing_to_do_is_steady_with_no_step():
    decision = read_decision(steady_read(), SCOPE, ["app"], trail_steps=[])
    assert decision == dict(
        planned={"changed": False, "changes": [], "restart_required": False},
        steady=True,
        steady_steps=[],
        trail_steps=[],
        group="idle",
    )


@pytest.mark.parametrize(
    "path, value",
    [
        (("pgaudit", "loaded"), False),
        (("preload", "pgaudit_staged"), False),
        (("preload", "restart_required"), True),
        (("preload", "restart_required"), KeyError),
        (("plan", "settings", "restart_required"), True),
        (("plan", "settings", "changes"), [{"scope": "system", "name": "pgaudit.log"}]),
        (("plan", "settings", "changes"), KeyError),
        (("plan",), KeyError),
    ],
    ids=[
        "not-loaded",
        "not-staged",
        "restart-pending",
        "restart-unknown",
        "plan-needs-restart",
        "system-change",
        "plan-refused",
        "no-plan",
    ],
)
def test_a_host_with_something_at_system_level_is_rolling_and_takes_every_trail_step(path, value):
    decision = read_decision(with_changes(steady_read(), path, value), SCOPE, ["app"], trail_steps=[])
    assert decision["steady"] is False
    assert decision["steady_steps"] == []
    assert decision["trail_steps"] == ["all"]
    assert decision["group"] == "rolling"


def test_a_missing_package_or_a_read_that_could_not_run_is_not_steady():
    assert read_decision(steady_read(), SCOPE, ["app"], package_missing=True)["steady"] is False
    failed = read_decision({"failed": True, "msg": "Failed to import the required Python library (psycopg)"})
    assert failed == dict(planned={}, steady=False, steady_steps=[], trail_steps=["all"], group="rolling")


@pytest.mark.parametrize(
    "path, value",
    [
        (("pgaudit", "available_version"), None),
        (("pgaudit", "extension_versions"), {}),
        (("pgaudit", "extension_versions"), {"app": "16.0", "postgres": "17.1"}),
        (("unreachable_databases",), ["app"]),
        (("closed_databases",), {"old": "datallowconn is false"}),
    ],
    ids=["no-library-version", "no-extension", "old-version", "unreachable", "closed"],
)
def test_a_steady_host_whose_extension_is_not_current_takes_the_extension_step(path, value):
    decision = read_decision(with_changes(steady_read(), path, value), SCOPE, ["app"])
    assert decision["steady"] is True
    assert decision["steady_steps"] == ["extension"]


def test_a_database_named_for_the_extension_but_not_read_takes_the_extension_step():
    assert read_decision(steady_read(), SCOPE, ["app", "reports"])["steady_steps"] == ["extension"]
    assert read_decision(steady_read(), SCOPE, ["all"])["steady_steps"] == []


def test_a_catalog_scope_to_change_takes_the_scopes_step_only_when_scopes_are_declared():
    read = with_changes(steady_read(), ("plan", "settings", "changes"), [{"scope": "database", "name": "app"}])
    assert read_decision(read, SCOPE, ["app"])["steady_steps"] == ["scopes"]
    assert read_decision(read, dict(SCOPE, databases={}), ["app"])["steady_steps"] == []
    assert read_decision(read, dict(SCOPE, databases={}, roles={"etl": {}}), ["app"])["steady_steps"] == ["scopes"]


@pytest.mark.parametrize(
    "plan, todo",
    [({"changed": False}, False), ({"changed": True}, True), ({"failed": True, "msg": "x"}, True), (KeyError, True)],
    ids=["kept", "changed", "failed", "missing"],
)
def test_the_object_audit_step_follows_its_plan(plan, todo):
    read = with_changes(steady_read(), ("plan", "object_audit"), plan)
    assert ("object_audit" in read_decision(read, SCOPE, ["app"])["steady_steps"]) is todo
    assert read_decision(read, dict(SCOPE, object_audit={}), ["app"])["steady_steps"] == []


def test_a_steady_standby_takes_no_catalog_step_but_keeps_the_trail_steps():
    read = with_changes(steady_read(), ("in_recovery",), True)
    read = with_changes(read, ("pgaudit", "extension_versions"), {})
    decision = read_decision(read, SCOPE, ["app"], trail_steps=["sealer"])
    assert decision["steady"] is True
    assert decision["steady_steps"] == []
    assert decision["trail_steps"] == ["sealer"]


@pytest.mark.parametrize(
    "changes, trail_steps, group",
    [
        ([], [], "idle"),
        ([{"scope": "database", "name": "app"}], [], "steady"),
        ([], ["sealer"], "steady"),
        ([], ["trail"], "steady"),
        ([{"scope": "system", "name": "pgaudit.log"}], [], "rolling"),
    ],
    ids=["nothing-to-do", "a-scope-step", "a-sealer-step", "a-trail-step", "a-system-change"],
)
def test_the_decision_names_where_site_yml_sends_the_host(changes, trail_steps, group):
    read = with_changes(steady_read(), ("plan", "settings", "changes"), changes)
    assert read_decision(read, SCOPE, ["app"], trail_steps=trail_steps)["group"] == group


def decided(group):
    return {"__pgaudit_decision": {"group": group, "steady": group != "rolling"}}


def test_the_hosts_of_a_group_are_those_whose_read_put_them_there_in_order():
    hostvars = {
        "a": decided("idle"),
        "b": decided("rolling"),
        "c": decided("steady"),
        "d": decided("rolling"),
        # Its read failed (or it was not read): no decision, no group.
        "e": {"ansible_host": "e"},
        "f": {"__pgaudit_decision": None},
    }
    hosts = ["d", "a", "b", "c", "e", "f", "not-in-hostvars"]
    assert read_hosts(hosts, hostvars, "rolling") == ["d", "b"]
    assert read_hosts(hosts, hostvars, "steady") == ["c"]
    assert read_hosts(hosts, hostvars, "idle") == ["a"]
    assert read_hosts([], hostvars, "idle") == []
    with pytest.raises(ValueError, match="group must be one of rolling, steady, idle, got 'busy'"):
        read_hosts(hosts, hostvars, "busy")
