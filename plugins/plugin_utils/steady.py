# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host is steady, and which steps it still takes, from the pgaudit role's read
(audit_plan's result) (pure; unit-tested).

A steady host has pgaudit installed, preloaded and running, and nothing at system level to stage
or restart: site.yml brings it up to date without its rolling batches, and skips each step whose
plan is empty. Written in Python rather than as the read's Jinja variables: ansible-core compiles
every expression again in each worker, and the decision's took about 40 per host on every no-op
run (docs/benchmarks.md, section 5).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The steps of roles/pgaudit/tasks/scopes.yml, in its order.
STEPS = ("extension", "scopes", "object_audit")
# Where site.yml sends a host after its read: through the rolling batches, to the steady hosts'
# play, or nowhere (an idle host: nothing to do in either role).
GROUPS = ("rolling", "steady", "idle")


def _changed_or_failed(result):
    """Ansible's ``is changed or is failed`` of one plan entry; a missing entry is to do."""
    if not isinstance(result, dict):
        return True
    return bool(result.get("changed")) or bool(result.get("failed"))


def _extension_current(read, extension_databases):
    """Every database read has the pgaudit version the library offers, each database named in
    pgaudit_extension_databases was read, and none was out of reach (a database no session can
    open is named again by the extension step, on every run)."""
    pgaudit = read.get("pgaudit") or {}
    versions = pgaudit.get("extension_versions") or {}
    available = pgaudit.get("available_version")
    return (
        available is not None
        and not read.get("unreachable_databases")
        and not read.get("closed_databases")
        and len(versions) > 0
        and all(name in versions for name in extension_databases or [] if name != "all")
        and all(version == available for version in versions.values())
    )


def read_decision(read, scope=None, extension_databases=None, package_missing=False, trail_steps=None):
    """What the pgaudit role does next on one host, from its read.

    ``read`` is audit_plan's result (registered as __pgaudit_read; a read that could not run has
    no ``major``); ``scope`` the validated pgaudit_scope ({databases, roles, object_audit, ...});
    ``extension_databases`` pgaudit_extension_databases; ``package_missing`` whether the pgaudit
    package is still to install; ``trail_steps`` the steps the audit_triggers role still has on
    this host (its trail_steps filter), when that role asked for the read.

    Returns ``{planned, steady, steady_steps, trail_steps, group}``: ``planned`` the settings plan
    ({} without one), ``steady`` as above, ``steady_steps`` the steps of STEPS a steady primary
    still takes, ``trail_steps`` the audit_triggers role's steps on a steady host, ``['all']`` on
    any other, ``group`` one of GROUPS.
    """
    read = read or {}
    scope = scope or {}
    planned = (read.get("plan") or {}).get("settings") or {}
    changes = planned.get("changes")
    steady = (
        bool((read.get("pgaudit") or {}).get("loaded"))
        and bool((read.get("preload") or {}).get("pgaudit_staged"))
        and not (read.get("preload") or {}).get("restart_required", True)
        and not package_missing
        and changes is not None
        and not planned.get("restart_required")
        and not any(change.get("scope") == "system" for change in changes)
    )
    steps = []
    if steady and not read.get("in_recovery"):
        if not _extension_current(read, extension_databases):
            steps.append("extension")
        if (scope.get("databases") or scope.get("roles")) and any(
            change.get("scope") != "system" for change in changes
        ):
            steps.append("scopes")
        if scope.get("object_audit") and _changed_or_failed((read.get("plan") or {}).get("object_audit")):
            steps.append("object_audit")
    trail_steps = list(trail_steps or []) if steady else ["all"]
    return dict(
        planned=planned,
        steady=steady,
        steady_steps=steps,
        trail_steps=trail_steps,
        group="rolling" if not steady else "steady" if steps or trail_steps else "idle",
    )


def read_hosts(hosts, hostvars, group):
    """The hosts among ``hosts`` whose read put them in ``group`` (one of GROUPS), in order.

    ``hostvars`` maps each host to its variables (Ansible's ``hostvars``); a host without a
    decision (``__pgaudit_decision``: its read failed, or it was not read) is in no group.
    site.yml names the hosts of its plays after the read this way rather than with group_by: one
    task fewer on every host of every run.
    """
    if group not in GROUPS:
        raise ValueError("group must be one of %s, got %r" % (", ".join(GROUPS), group))
    chosen = []
    for host in hosts or []:
        variables = hostvars[host] if host in hostvars else {}
        decision = variables["__pgaudit_decision"] if "__pgaudit_decision" in variables else None
        if isinstance(decision, dict) and decision.get("group") == group:
            chosen.append(host)
    return chosen
