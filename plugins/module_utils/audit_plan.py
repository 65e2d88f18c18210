# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit_plan module's run: audit_info's read of the server and, in the same run, the plan
of each step the roles take (pgaudit_settings, object_audit, the canary's setup, audit_trail and
audit_lockdown per database), changing nothing; and the hash chain's sealer units as the host has
them (sealer_units), which the audit_triggers role compares with its templates.

Each step is planned by its own module's run (its ``run`` or ``converge`` in module_utils), in
check mode, through :class:`Planned`: the step's options checked by that module's argument spec,
its warnings kept, its failure kept as the step's result instead of ending the module. So the
plan is what the module itself would report with ``--check``, with no SQL or planning written
twice, and a step whose plan changes or fails is left to the module's real run to do or report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.pgtrail.audit.plugins.module_utils import (
    audit_info,
    canary,
    object_audit,
    pgaudit_apply,
    postgres,
    sealer_units,
)
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import lockdown, options
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.converge import converge as trail_converge
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import TrailError

# The options a database's entry of ``trails`` may give (audit_trail's, but those every
# database shares: the schema and app_roles come from trail_options).
PER_DATABASE = sorted(set(options.TRAIL) - {"app_roles"})


class StepFailed(Exception):
    """A planned step's module run failed (its fail_json)."""

    def __init__(self, msg):
        super().__init__(msg)
        self.msg = msg


class Planned:
    """What one module's run sees when audit_plan runs it: its own options (checked, and
    completed with their defaults, by that module's argument spec), the connection of this run,
    check mode, its warnings kept and its failure raised as :class:`StepFailed`."""

    def __init__(self, module, spec, step_options):
        params = dict((name, module.params[name]) for name in postgres.connection_argument_spec())
        params.update(step_options)
        checked = ArgumentSpecValidator(spec).validate(params)
        if checked.error_messages:
            raise StepFailed("; ".join(checked.error_messages))
        self.params = checked.validated_parameters
        self.check_mode = True
        self._diff = False
        self.warnings = []
        self._module = module

    def warn(self, warning):
        self.warnings.append(warning)

    def deprecate(self, msg, **kwargs):
        self.warnings.append(msg)

    def fail_json(self, msg, **kwargs):
        raise StepFailed(msg)

    def run_command(self, *args, **kwargs):
        return self._module.run_command(*args, **kwargs)

    def get_bin_path(self, *args, **kwargs):
        return self._module.get_bin_path(*args, **kwargs)


def trail_requests(trails, trail_options):
    """[(database, audit_trail options)]: each database's entry over the options every database
    takes, as the audit_triggers role passes them (pure)."""
    requests = []
    for database, given in sorted((trails or {}).items()):
        given = given or {}
        request = dict(trail_options or {})
        request.update((name, given[name]) for name in PER_DATABASE if name in given)
        request["database"] = database
        requests.append((database, request))
    return requests


def plan_step(module, spec, step_options, run):
    """(result, warnings) of ``run(planned)``, the step's module run in check mode; a failed run's
    result is {failed, msg}."""
    try:
        planned = Planned(module, spec, step_options)
        result = run(planned)
    except StepFailed as exc:
        return dict(changed=False, failed=True, msg=exc.msg), []
    result.pop("diff", None)
    return result, planned.warnings


def in_one_transaction(converge, refusal):
    """The run of a module that converges one database in one transaction (audit_trail, audit_lockdown)."""
    return lambda planned: postgres.run_in_one_transaction(planned, planned.params["database"], converge, refusal)


def steps(params, facts):
    """[(key, database or None, spec, options, run)]: the steps the task asks to plan. A standby
    takes the system-wide settings only (catalog changes replicate from its primary); the settings
    are planned once pgaudit is loaded (the pgaudit.* parameters exist only then), and before
    that only their scopes' databases and roles are checked."""
    standby = facts["in_recovery"]
    planned = []
    settings = params["settings"]
    if settings is not None and standby:
        settings = dict((k, v) for k, v in settings.items() if k not in ("databases", "roles"))
    if settings is not None and facts["pgaudit"]["loaded"]:
        planned.append(("settings", None, pgaudit_apply.argument_spec(), settings, pgaudit_apply.run))
    elif settings is not None and not standby:
        planned.append(("settings", None, pgaudit_apply.argument_spec(), settings, pgaudit_apply.run_names))
    if standby:
        return planned
    if params["canary"] is not None:
        setup = dict(params["canary"], setup_only=True)
        planned.append(("canary", None, canary.argument_spec(), setup, canary.run))
    if params["object_audit"] is not None:
        planned.append(("object_audit", None, object_audit.argument_spec(), params["object_audit"], object_audit.run))
    trail_spec = options.argument_spec(**options.TRAIL)
    lockdown_spec = options.argument_spec(**options.LOCKDOWN)
    for database, request in trail_requests(params["trails"], params["trail_options"]):
        planned.append(("trail", database, trail_spec, request, in_one_transaction(trail_converge, TrailError)))
        if params["lockdown"] is not None and request.get("state", "present") == "present":
            lockdown_request = dict(params["lockdown"], database=database)
            run = in_one_transaction(lockdown.converge, lockdown.LockdownError)
            planned.append(("lockdown", database, lockdown_spec, lockdown_request, run))
    return planned


def run(module):
    """The audit_plan module: audit_info's facts with ``plan``, or audit_info's failure."""
    params = module.params
    read = dict(databases=params["databases"], trail_schema=params["trail_schema"], verify_chain=False)
    facts, warnings = plan_step(
        module, audit_info.argument_spec(), read, lambda planned: audit_info.run(planned, full=params["evidence"])
    )
    if facts.get("failed"):
        module.fail_json(msg=facts["msg"])
    plan = {}
    for key, database, spec, step_options, step_run in steps(params, facts):
        result, step_warnings = plan_step(module, spec, step_options, step_run)
        if database is None:
            plan[key] = result
        else:
            plan.setdefault(key, {})[database] = result
        # A step that changes or fails runs for real, and warns then.
        if not (result.get("changed") or result.get("failed")):
            warnings.extend(step_warnings)
    if params["sealer_units"]:
        plan["sealer"] = sealer_units.read(module)
    for warning in sorted(set(warnings), key=warnings.index):
        module.warn(warning)
    facts.update(plan=plan, changed=False)
    return facts
