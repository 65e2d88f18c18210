# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The diff (pure): the trail before and after, one line per trigger, one text per function, the
same for the catalog and the plan, so a diff shows only what changes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import EVENT_FUNCTION, EVENT_TRIGGERS
from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.plan import (
    VOLATILITY,
    function_config,
    language_of,
    partition_name,
)
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render


def describe_trigger(name, spec, enabled="A"):
    """One line per trigger, the same for the catalog and the plan, so a diff shows only changes."""
    events = " OR ".join(spec["events"])
    referencing = ""
    if spec.get("old_table") or spec.get("new_table"):
        parts = []
        if spec.get("old_table"):
            parts.append("OLD TABLE AS %s" % spec["old_table"])
        if spec.get("new_table"):
            parts.append("NEW TABLE AS %s" % spec["new_table"])
        referencing = " REFERENCING %s" % " ".join(parts)
    args = ", ".join("'%s'" % a.replace("'", "''") for a in spec["args"])
    text = "%s AFTER %s ON %s%s FOR EACH %s EXECUTE FUNCTION %s(%s)" % (
        name,
        events,
        render(*spec["relation"]),
        referencing,
        spec["level"].upper(),
        spec["function"],
        args,
    )
    if spec.get("unusual"):
        text += " (with BEFORE/INSTEAD OF, WHEN, columns or a constraint)"
    return text + {"A": " ENABLE ALWAYS", "O": "", "D": " DISABLED", "R": " ENABLE REPLICA"}.get(enabled, "")


def describe_function(schema, spec, language=None):
    language, volatility = language or language_of(spec["name"])
    header = "%s(%s) RETURNS %s LANGUAGE %s%s%s%s" % (
        render(schema, spec["name"]),
        spec["arguments"],
        spec["result"],
        language,
        VOLATILITY.get(volatility, ""),
        " SECURITY DEFINER" if spec["definer"] else "",
        "".join(" SET %s" % setting for setting in function_config(spec)),
    )
    return header + "\n" + spec["source"].strip("\n")


def describe_catalog_function(schema, row):
    spec = dict(
        name=row["proname"],
        arguments=row["arguments"],
        result=row["result"],
        definer=bool(row["prosecdef"]),
        source=row["prosrc"],
    )
    text = describe_function(schema, spec, (row["lanname"], row["provolatile"]))
    config = list(row["proconfig"] or [])
    if config != function_config(spec):
        text = text.replace("\n", " [settings: %s]\n" % ", ".join(config), 1)
    return text


def describe_state(schema, state, registry):
    return dict(
        schema_version=state["version"],
        hash_chain=bool({2, 3} & state["applied"]),
        tables=dict(
            (
                render(r["schema_name"], r["table_name"]),
                dict(mode=r["mode"], exclude_columns=sorted(r["excluded_columns"] or [])),
            )
            for r in registry.values()
        ),
        triggers=sorted(describe_trigger(k[1], s, s.get("enabled")) for k, s in state["triggers"].items()),
        functions=dict((name, describe_catalog_function(schema, rows[0])) for name, rows in state["functions"].items()),
        event_triggers=sorted(
            "%s ON %s EXECUTE FUNCTION %s%s"
            % (
                name,
                row["evtevent"],
                render(row["function_schema"], row["function_name"]),
                " ENABLE ALWAYS" if row["evtenabled"] == "A" else " (enabled: %s)" % row["evtenabled"],
            )
            for name, row in state["event_triggers"].items()
        ),
        log_event_roles=list((state["functions"].get(EVENT_FUNCTION) or [{}])[0].get("grantees") or []),
        partitions=sorted(partition_name(m) for m in (state["partitions"] or {}).get("existing", ())),
    )


def describe_desired(schema, state, tables, desired, specs, app_roles, present, partition_plan):
    partitions = set((state["partitions"] or {}).get("existing", ()))
    if partition_plan:
        partitions |= set(partition_plan["create"])
        partitions = set(m for m in partitions if partition_name(m) not in partition_plan["drop"])
    return dict(
        schema_version=state["version"],
        hash_chain=False,
        tables=dict(
            (render(t["schema"], t["name"]), dict(mode=t["mode"], exclude_columns=[render(c) for c in t["exclude"]]))
            for t in tables.values()
        ),
        triggers=sorted(describe_trigger(k[1], s) for k, s in desired.items()),
        functions=dict((spec["name"], describe_function(schema, spec)) for spec in specs),
        event_triggers=sorted(
            "%s ON %s EXECUTE FUNCTION %s ENABLE ALWAYS" % (name, event, render(schema, "log_ddl"))
            for name, event in EVENT_TRIGGERS
        )
        if present
        else [],
        log_event_roles=list(app_roles),
        partitions=sorted(partition_name(m) for m in partitions),
    )
