"""The seed's "what to audit", judged on hand-written facts (plugin_utils.seed_coverage): each
category covered on a host that records all of it, and each losing its verdict, naming why, when
one fact breaks it."""

import copy

import pytest
from test_compliance import compliant

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps
from ansible_collections.pgtrail.audit.plugins.module_utils.pgaudit_apply import profile_server_settings
from ansible_collections.pgtrail.audit.plugins.plugin_utils import compliance
from ansible_collections.pgtrail.audit.plugins.plugin_utils.seed_coverage import CATEGORIES, judge

SEED_CATEGORIES = [
    "Authentication",
    "Authorization",
    "Data access",
    "Data modification",
    "Configuration changes",
    "Administrative actions",
]


def complete():
    """Facts of a host that records every category (what the coverage profile and the trail give)."""
    facts = compliant()
    facts["pgaudit"]["settings"]["pgaudit.log"] = "read, write, role, ddl, misc_set"
    facts["logging"].update(log_min_messages="warning", log_min_error_statement="error")
    facts["object_audit"] = {"role": None, "databases": {}}
    facts["application_events"] = {"databases": {"finance": {"function": "audit.log_event", "callers": ["app_user"]}}}
    return facts


def verdicts(facts):
    return {c["category"]: c["verdict"] for c in judge(facts)}


def category(facts, name):
    return next(c for c in judge(facts) if c["category"] == name)


def example(facts, name):
    return next(e for c in judge(facts) for e in c["examples"] if e["example"] == name)


def broken(change):
    facts = copy.deepcopy(complete())
    change(facts)
    return facts


def test_a_host_that_records_everything_covers_every_category_of_the_seed_in_its_order():
    matrix = judge(complete())
    assert [c["category"] for c in matrix] == SEED_CATEGORIES
    assert {c["verdict"] for c in matrix} == {"covered"}
    assert all(e["by"] for c in matrix for e in c["examples"])
    assert example(complete(), "login")["by"] == "log_connections = 'on' (connections)"
    assert example(complete(), "password change")["by"] == "pgaudit's role class (ALTER ROLE ... PASSWORD, redacted)"


def test_every_category_carries_its_controls_from_the_one_table():
    for entry in judge(complete()):
        assert entry["controls"] == list(compliance.CONTROLS[entry["id"]])


def set_class(value):
    return lambda f: f["pgaudit"]["settings"].update({"pgaudit.log": value})


def set_logging(**values):
    return lambda f: f["logging"].update(values)


def no_events(f):
    f["application_events"]["databases"] = {}


def no_pgaudit(f):
    f["preload"]["pgaudit_running"] = False


# (what breaks, the change, category, its verdict, example, the reason named)
BREAKS = [
    ("connections not logged", set_logging(log_connections="off"), "Authentication", "partly", "login",
     "log_connections = 'off': connections are not logged"),
    ("disconnections not logged", set_logging(log_disconnections="off"), "Authentication", "partly", "logout",
     "log_disconnections = 'off': disconnections are not logged"),
    ("failed logins kept out", set_logging(log_min_messages="panic"), "Authentication", "partly", "failed login",
     "log_min_messages = 'panic' keeps FATAL lines"),
    ("no role class", set_class("read, write, ddl, misc_set"), "Administrative actions", "partly", "user creation",
     "does not log the role class (CREATE ROLE)"),
    ("errors kept out", set_logging(log_min_messages="fatal"), "Authorization", "partly", "permission denied",
     "log_min_messages = 'fatal' keeps ERROR lines"),
    ("no refused statement", set_logging(log_min_error_statement="panic"), "Authorization", "partly",
     "permission denied", "without the refused statement (log_min_error_statement = 'panic')"),
    ("no SET ROLE", set_class("read, write, role, ddl"), "Authorization", "partly", "privilege escalation",
     "does not log the misc_set class (SET ROLE"),
    ("no read class", set_class("write, role, ddl, misc_set"), "Data access", "partly", "sensitive data read",
     "does not log the read class (SELECT)"),
    ("no log_event", no_events, "Data access", "partly", "API key usage",
     "no database read has the trail's log_event()"),
    ("no write class and no trail",
     lambda f: (set_class("read, role, ddl, misc_set")(f), f["trail"]["databases"].pop("finance")),
     "Data modification", "not_covered", "create, update, delete on sensitive tables",
     "no table is under the trigger-based trail"),
    ("no ddl class", set_class("read, write, role, misc_set"), "Configuration changes", "partly", "server settings",
     "does not log the ddl class (ALTER SYSTEM)"),
    ("no role class for JIT grants", set_class("read, write, ddl, misc_set"), "Administrative actions", "partly",
     "JIT grant", "does not log the role class (GRANT, REVOKE)"),
    ("pgaudit not loaded", no_pgaudit, "Configuration changes", "not_covered", "schema change",
     "pgaudit is not loaded"),
]  # fmt: skip


@pytest.mark.parametrize(
    "change, name, verdict, example_name, reason", [b[1:] for b in BREAKS], ids=[b[0] for b in BREAKS]
)
def test_a_category_loses_its_verdict_for_the_reason_that_breaks_it(change, name, verdict, example_name, reason):
    facts = broken(change)
    assert category(facts, name)["verdict"] == verdict
    judged = example(facts, example_name)
    assert judged["verdict"] != "covered" and reason in judged["by"], judged


def test_a_database_or_role_value_that_drops_a_class_makes_it_partly_covered_naming_the_scope():
    facts = broken(
        lambda f: f["weakening"].append(
            {"scope": "role", "target": "etl", "value": "write", "classes_dropped": ["read", "role", "ddl"]}
        )
    )
    judged = example(facts, "role change")
    assert judged["verdict"] == "partly" and "except in sessions of role etl" in judged["by"]
    assert category(facts, "Authorization")["verdict"] == "partly"


def test_the_trail_or_object_auditing_covers_what_a_missing_class_leaves_out():
    facts = broken(set_class("role, ddl, misc_set"))
    assert example(facts, "create, update, delete on sensitive tables")["by"] == (
        "the trigger-based trail on finance: public.payments"
    )
    assert example(facts, "sensitive data read")["verdict"] == "not_covered"
    facts["object_audit"] = {
        "role": "audit_objects",
        "databases": {"finance": [{"table": "public.payments", "privileges": ["SELECT"]}]},
    }
    assert example(facts, "sensitive data read")["by"] == (
        "object auditing of SELECT on finance: public.payments (pgaudit.role = 'audit_objects')"
    )


def test_log_event_that_no_application_role_may_call_covers_only_partly():
    facts = broken(lambda f: f["application_events"]["databases"]["finance"].update(callers=[]))
    judged = example(facts, "service key usage")
    assert judged["verdict"] == "partly" and "no login role other than superusers may call it" in judged["by"]


def test_facts_without_the_new_keys_are_judged_not_refused():
    facts = compliant()  # an older audit_info: no object_audit, no application_events, no log_min_error_statement
    assert [c["category"] for c in judge(facts)] == SEED_CATEGORIES
    assert len(CATEGORIES) == 6
    with pytest.raises(ValueError):
        judge(None)


def test_the_coverage_profile_with_log_event_covers_every_category():
    facts = complete()
    facts["pgaudit"]["settings"] = dict(ps.PROFILES["coverage"])
    facts["logging"].update(ps.PROFILE_SERVER_SETTINGS["coverage"])
    assert set(verdicts(facts).values()) == {"covered"}
    # The baseline it replaces leaves reads, role changes and SET ROLE out.
    facts["pgaudit"]["settings"] = dict(ps.PROFILES["baseline"])
    assert verdicts(facts)["Data access"] == verdicts(facts)["Authorization"] == "partly"


def test_a_task_s_server_settings_override_the_profile_s():
    assert profile_server_settings("coverage", {"LOG_CONNECTIONS": "off"}) == {
        "LOG_CONNECTIONS": "off",
        "log_disconnections": "on",
        "log_min_messages": "warning",
        "log_min_error_statement": "error",
    }
    assert profile_server_settings("baseline", None) == {} and profile_server_settings(None, {"a": 1}) == {"a": 1}
