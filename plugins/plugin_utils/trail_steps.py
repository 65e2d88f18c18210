# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each step of the audit_triggers role still has to do on one host, from site.yml's read
(audit_plan's plan) while it holds (pure; unit-tested).

The role loops over these lists (tasks/main.yml, tasks/sealer.yml), and site.yml's read lists
the steps with something to do, so that a host with none sits out the last plays. Written in
Python rather than as the role's Jinja variables: each host templated about a dozen expressions
and rendered each sealer unit to compare its checksum, 0.26 s of controller CPU per host on every
no-op run (docs/benchmarks.md, section 5).

A plan entry is audit_plan's result for one step and database (``{changed, failed, ...}``); a
database without one, or whose plan changes or fails, is to do. Without a plan at all (a role run
outside site.yml) every step runs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgtrail.audit.plugins.plugin_utils.sealer import seal_unit

# What tasks/sealer.yml leaves a unit file as, and systemd_service leaves the service as, in the
# shape audit_plan's sealer_units reads them (module_utils/sealer_units.py).
UNIT_FILE = dict(owner="root", group="root", mode="0644")
UNIT_STATE = dict(enabled="enabled", active="active", reload=False)
STEPS = ("canary", "trail", "vault_login", "lockdown", "sealer")


def _todo(result):
    """Whether one plan entry leaves its step to do: none, changed or failed."""
    return not isinstance(result, dict) or bool(result.get("changed")) or bool(result.get("failed"))


def _kept(plan):
    """The databases of one step's plan ({database: result}) that have nothing to do."""
    return set(database for database, result in (plan or {}).items() if not _todo(result))


def _entries(databases, keep):
    """``[{key, value}]`` (dict2items' shape, which the role's loops take) of the databases kept."""
    return [dict(key=name, value=value) for name, value in databases.items() if keep(name, value or {})]


def present(databases):
    """The entries of audit_triggers_databases whose trail is present (no state, or present)."""
    return _entries(databases, lambda _name, value: value.get("state", "present") == "present")


def sealed(databases):
    """The present entries with hash_chain: the databases that get a sealer."""
    return [entry for entry in present(databases) if (entry["value"] or {}).get("hash_chain")]


def seal_prefix(cluster):
    """The prefix every sealer unit of ``cluster`` shares; '' without Debian's layout."""
    return seal_unit(cluster, "x", "x")["prefix"] if cluster else ""


def _wanted_unit(entry, cluster, schema, interval, user):
    """``(unit file name, {owner, group, mode, checksum, enabled, active, reload})`` as the role's
    tasks leave the sealer of one entry. The state is None where no unit can be made (the role's
    checks in tasks/sealer.yml name why: an interval below 1 s), and the name too where it cannot
    be named (a cluster without Debian's layout)."""
    try:
        name = seal_unit(cluster, entry["key"], schema)["name"] + ".service"
    except ValueError:
        return None, None
    try:
        unit = seal_unit(cluster, entry["key"], schema, interval=interval, user=user)
    except ValueError:
        return name, None
    return name, dict(UNIT_FILE, checksum=unit["checksum"], **UNIT_STATE)


def _sealer(databases, plan, cluster, schema, interval, user, found):
    """``(todo, unwanted)``: the entries whose sealer is not as the role leaves it, and this
    cluster's unit files no database wants (sorted). ``plan`` is the read's ``sealer`` ({file
    name: state}), None without it; then every entry is to do and ``found`` (the file names
    sealer.yml's search found) stands for the units on the host."""
    entries = sealed(databases)
    wanted = dict((entry["key"], _wanted_unit(entry, cluster, schema, interval, user)) for entry in entries)
    if plan is None:
        todo = entries
    else:
        todo = [
            entry
            for entry in entries
            if wanted[entry["key"]][1] is None or plan.get(wanted[entry["key"]][0]) != wanted[entry["key"]][1]
        ]
    if not cluster:
        return todo, []
    prefix = seal_prefix(cluster)
    keep = set(name for name, _state in wanted.values())
    on_host = plan.keys() if plan is not None else (found or [])
    unit = re.compile(re.escape(prefix) + r".*[.](service|timer)$")
    return todo, sorted(name for name in on_host if unit.match(name) and name not in keep)


def trail_steps(
    databases,
    plan=None,
    in_recovery=False,
    canary=False,
    vault_source=False,
    cluster="",
    schema="audit",
    interval=1,
    user="postgres",
    found=None,
):
    """What each step of the role has to do on one host.

    ``databases`` is audit_triggers_databases ({database: options}); ``plan`` the read's plan
    while it holds ({canary, trail, lockdown, sealer}, {} or None without one); ``in_recovery``
    whether the server is a standby (it takes no catalog step); ``canary`` whether the canary is
    wanted; ``vault_source`` whether the host feeds an audit vault; ``cluster`` Debian's
    ``<major>/<name>`` ('' elsewhere); ``schema``, ``interval`` (seconds) and ``user`` the
    sealer's; ``found`` the sealer unit files sealer.yml's search found (without the read).

    Returns ``{canary: bool, trail: [entry], lockdown: [entry], seal: [entry], seal_unwanted:
    [file name], sealer: bool, steps: [step]}``, each entry ``{key, value}`` of ``databases``;
    ``steps`` names those with something to do, in the role's order (STEPS).
    """
    databases = databases or {}
    plan = plan or {}
    catalog = not in_recovery
    kept_trail, kept_lockdown = _kept(plan.get("trail")), _kept(plan.get("lockdown"))
    todo = dict(
        canary=bool(canary) and catalog and _todo(plan.get("canary")),
        trail=_entries(databases, lambda name, _value: name not in kept_trail) if catalog else [],
        lockdown=[entry for entry in present(databases) if entry["key"] not in kept_lockdown] if catalog else [],
    )
    todo["seal"], todo["seal_unwanted"] = _sealer(databases, plan.get("sealer"), cluster, schema, interval, user, found)
    todo["sealer"] = "sealer" not in plan or bool(todo["seal"] or todo["seal_unwanted"])
    todo["vault_login"] = bool(vault_source) and catalog
    todo["steps"] = [step for step in STEPS if todo[step]]
    return todo
