"""audit_plan: the trail's requests per database, and what a planned module run sees (pure)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_plan, object_audit, postgres
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import options

SHARED = dict(schema="audit", actor_setting="pgtrail.actor_id", app_roles=["clerk"])


@pytest.mark.parametrize(
    "trails, expected",
    [
        # The shared options, then the database's own (as the audit_triggers role's task takes them).
        (
            {"finance": {"tables": ["public.payments"], "hash_chain": True}},
            [("finance", dict(SHARED, database="finance", tables=["public.payments"], hash_chain=True))],
        ),
        # A database's actor_setting replaces the shared one; schema and app_roles stay shared.
        (
            {"shop": {"actor_setting": "app.user", "schema": "other", "app_roles": ["x"]}},
            [("shop", dict(SHARED, database="shop", actor_setting="app.user"))],
        ),
        # No options at all: the shared ones; databases in order.
        ({"b": None, "a": {}}, [("a", dict(SHARED, database="a")), ("b", dict(SHARED, database="b"))]),
        ({}, []),
        (None, []),
    ],
)
def test_each_database_takes_the_shared_options_and_its_own(trails, expected):
    assert audit_plan.trail_requests(trails, SHARED) == expected


class Module:
    """The real module's side of a planned run: its connection options."""

    def __init__(self):
        self.params = dict((name, spec.get("default")) for name, spec in postgres.connection_argument_spec().items())
        self.params["login_db"] = "postgres"


def test_a_planned_run_gets_its_options_checked_and_defaulted_by_its_modules_spec_in_check_mode():
    planned = audit_plan.Planned(Module(), options.argument_spec(**options.LOCKDOWN), dict(database="finance"))
    assert planned.check_mode is True and planned._diff is False
    assert planned.params["owner"] == "audit_owner" and planned.params["revoke_parameter_grants"] is True
    assert planned.params["login_user"] == "postgres"
    # As -e gives them: converted by the spec, as the module itself would.
    planned = audit_plan.Planned(
        Module(), options.argument_spec(**options.LOCKDOWN), dict(database="x", revoke_parameter_grants="false")
    )
    assert planned.params["revoke_parameter_grants"] is False


@pytest.mark.parametrize(
    "spec, step_options, problem",
    [
        (options.argument_spec(**options.LOCKDOWN), dict(owner="o"), "database"),
        (object_audit.argument_spec(), dict(grants=[dict(table="t")]), "database"),
        (options.argument_spec(**options.TRAIL), dict(database="d", partition="weekly"), "partition"),
    ],
)
def test_options_the_module_would_refuse_fail_the_step_naming_them(spec, step_options, problem):
    with pytest.raises(audit_plan.StepFailed) as caught:
        audit_plan.Planned(Module(), spec, step_options)
    assert problem in caught.value.msg


def test_a_failed_step_is_kept_as_its_result_and_its_warnings_are_dropped():
    def run(planned):
        planned.warn("ignored")
        planned.fail_json(msg="role x does not exist")

    result, warnings = audit_plan.plan_step(Module(), object_audit.argument_spec(), {}, run)
    assert result == dict(changed=False, failed=True, msg="role x does not exist") and warnings == []


def test_a_planned_step_returns_its_result_without_the_diff_and_its_warnings():
    def run(planned):
        planned.warn("app role clerk may not call audit.log_event")
        return dict(changed=False, diff=dict(before={}, after={}))

    result, warnings = audit_plan.plan_step(Module(), object_audit.argument_spec(), {}, run)
    assert result == dict(changed=False) and warnings == ["app role clerk may not call audit.log_event"]
