"""What each step of the audit_triggers role still has to do, from the read's plan: a database
without a plan, or whose plan changes or fails, is to do; a standby takes no catalog step; a
sealer is kept only when its unit is exactly as the role leaves it."""

import pytest

from ansible_collections.pgtrail.audit.plugins.plugin_utils.sealer import seal_unit
from ansible_collections.pgtrail.audit.plugins.plugin_utils.trail_steps import STEPS, trail_steps

KEPT, CHANGED, FAILED = dict(changed=False), dict(changed=True), dict(failed=True, msg="x")
DATABASES = {
    "finance": {"tables": ["public.t"], "hash_chain": True},
    "hr": {"schemas": ["public"]},
    "gone": {"state": "absent"},
    "kept": {"state": "present", "hash_chain": True},
}


def unit_state(database, **changes):
    unit = seal_unit("17/main", database, "audit", interval=1, user="postgres")
    state = dict(
        owner="root",
        group="root",
        mode="0644",
        checksum=unit["checksum"],
        enabled="enabled",
        active="active",
        reload=False,
    )
    state.update(changes)
    return unit["name"] + ".service", state


def steady_plan():
    """A plan in which every step is as the role leaves it."""
    return dict(
        canary=KEPT,
        trail=dict((db, KEPT) for db in DATABASES),
        lockdown=dict((db, KEPT) for db in DATABASES if db != "gone"),
        sealer=dict(unit_state(db) for db in ("finance", "kept")),
    )


def steps(plan, **kwargs):
    args = dict(plan=plan, canary=True, cluster="17/main", schema="audit", interval=1, user="postgres")
    args.update(kwargs)
    return trail_steps(DATABASES, **args)


def keys(entries):
    return [entry["key"] for entry in entries]


def test_a_steady_plan_leaves_nothing_to_do():
    todo = steps(steady_plan())
    assert todo["steps"] == [] and todo["seal"] == [] and todo["seal_unwanted"] == [] and not todo["canary"]


def test_without_a_plan_every_step_runs_and_every_present_database_takes_the_lockdown():
    todo = steps({})
    assert todo["steps"] == ["canary", "trail", "lockdown", "sealer"]
    assert keys(todo["trail"]) == list(DATABASES)
    assert keys(todo["lockdown"]) == ["finance", "hr", "kept"]
    assert keys(todo["seal"]) == ["finance", "kept"]
    # Each entry keeps dict2items' shape, which the role's loops read.
    assert todo["trail"][0] == dict(key="finance", value=DATABASES["finance"])


# One change to the steady plan, and what it leaves to do.
@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda p: p["trail"].update(hr=CHANGED), dict(steps=["trail"], trail=["hr"])),
        (lambda p: p["trail"].update(hr=FAILED), dict(steps=["trail"], trail=["hr"])),
        (lambda p: p["trail"].pop("hr"), dict(steps=["trail"], trail=["hr"])),
        (lambda p: p["lockdown"].update(finance=CHANGED), dict(steps=["lockdown"], lockdown=["finance"])),
        (lambda p: p["lockdown"].pop("kept"), dict(steps=["lockdown"], lockdown=["kept"])),
        (lambda p: p.update(canary=CHANGED), dict(steps=["canary"])),
        (lambda p: p.update(canary=FAILED), dict(steps=["canary"])),
        (lambda p: p.pop("canary"), dict(steps=["canary"])),
        (
            lambda p: p["sealer"].update([unit_state("finance", checksum="0" * 40)]),
            dict(steps=["sealer"], seal=["finance"]),
        ),
        (lambda p: p["sealer"].update([unit_state("finance", mode="0600")]), dict(steps=["sealer"], seal=["finance"])),
        (lambda p: p["sealer"].update([unit_state("kept", owner="postgres")]), dict(steps=["sealer"], seal=["kept"])),
        (lambda p: p["sealer"].update([unit_state("kept", enabled="disabled")]), dict(steps=["sealer"], seal=["kept"])),
        (lambda p: p["sealer"].update([unit_state("kept", active="failed")]), dict(steps=["sealer"], seal=["kept"])),
        (lambda p: p["sealer"].update([unit_state("kept", reload=True)]), dict(steps=["sealer"], seal=["kept"])),
        (lambda p: p["sealer"].pop(unit_state("kept")[0]), dict(steps=["sealer"], seal=["kept"])),
        (
            lambda p: p["sealer"].update(
                {"pgtrail-seal-17-main-old.service": {}, "pgtrail-seal-17-main-finance.timer": {}}
            ),
            dict(steps=["sealer"], unwanted=["pgtrail-seal-17-main-finance.timer", "pgtrail-seal-17-main-old.service"]),
        ),
        # Another cluster's units and other files are not this cluster's to remove.
        (lambda p: p["sealer"].update({"pgtrail-seal-15-main-old.service": {}, "pgtrail-seal-17-main-x.conf": {}}), {}),
        (lambda p: p.pop("sealer"), dict(steps=["sealer"], seal=["finance", "kept"])),
    ],
    ids=[
        "trail-changed",
        "trail-failed",
        "trail-unplanned",
        "lockdown-changed",
        "lockdown-unplanned",
        "canary-changed",
        "canary-failed",
        "canary-unplanned",
        "unit-edited",
        "unit-mode",
        "unit-owner",
        "unit-disabled",
        "unit-inactive",
        "unit-needs-reload",
        "unit-missing",
        "units-unwanted",
        "other-cluster-units",
        "sealer-unread",
    ],
)
def test_each_drift_leaves_its_step_to_do_and_nothing_else(change, expected):
    plan = steady_plan()
    change(plan)
    todo = steps(plan)
    assert todo["steps"] == expected.get("steps", [])
    assert keys(todo["trail"]) == expected.get("trail", [])
    assert keys(todo["lockdown"]) == expected.get("lockdown", [])
    assert keys(todo["seal"]) == expected.get("seal", [])
    assert todo["seal_unwanted"] == expected.get("unwanted", [])


def test_a_standby_takes_no_catalog_step_but_keeps_its_sealer():
    plan = steady_plan()
    plan["trail"]["hr"] = CHANGED
    plan["sealer"].pop(unit_state("finance")[0])
    todo = steps(plan, in_recovery=True, vault_source=True)
    assert todo["steps"] == ["sealer"] and todo["trail"] == [] and todo["lockdown"] == [] and not todo["canary"]


def test_a_vault_source_always_has_its_login_step_and_the_steps_keep_the_role_s_order():
    todo = steps({}, vault_source=True)
    assert todo["steps"] == list(STEPS) == ["canary", "trail", "vault_login", "lockdown", "sealer"]
    assert steps(steady_plan(), vault_source=True)["steps"] == ["vault_login"]


def test_an_interval_or_schema_change_rewrites_every_sealer():
    assert keys(steps(steady_plan(), interval=5)["seal"]) == ["finance", "kept"]
    assert keys(steps(steady_plan(), schema="trail")["seal"]) == ["finance", "kept"]
    assert keys(steps(steady_plan(), user="pg")["seal"]) == ["finance", "kept"]


@pytest.mark.parametrize("cluster, interval", [("", 1), ("17/main", 0)], ids=["no-debian-layout", "interval-0"])
def test_a_sealer_that_cannot_be_made_is_to_do_so_that_the_role_s_checks_name_why(cluster, interval):
    todo = steps(steady_plan(), cluster=cluster, interval=interval)
    assert keys(todo["seal"]) == ["finance", "kept"] and "sealer" in todo["steps"]
    assert todo["seal_unwanted"] == []


def test_without_the_read_the_units_the_search_found_stand_for_the_host():
    found = ["pgtrail-seal-17-main-finance.service", "pgtrail-seal-17-main-old.service", "unrelated.service"]
    todo = steps({}, found=found)
    assert todo["seal_unwanted"] == ["pgtrail-seal-17-main-old.service"]
