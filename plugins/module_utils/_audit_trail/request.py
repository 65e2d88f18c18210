# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The input of a run: the options parsed and checked before any change (pure, unit-tested)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.pgtrail.audit.plugins.module_utils import identifiers
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

MODES = ("row", "statement")

_GUC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)+$")


def parse_columns(columns, where):
    if columns is None:
        return [], []
    if not isinstance(columns, list):
        return [], ["%s: exclude_columns must be a list of column names" % where]
    names, problems = [], []
    for column in columns:
        try:
            name = identifiers.parse_single(column, "column")
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        if name not in names:
            names.append(name)
    return names, problems


def normalize_request(tables, schemas, exclude_columns):
    """The declared selection, before the catalog is read.

    Returns ``(explicit, schema_rules, exclusions, problems)``: explicit maps (schema, table) to
    {given, mode, exclude}; schema_rules is a list of (given, schema, patterns); exclusions maps
    (schema, table) to (given key, columns) from the top-level exclude_columns option.
    """
    problems = []
    explicit = {}
    for index, entry in enumerate(tables or []):
        where = "tables[%d]" % index
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"name", "mode", "exclude_columns"})
            if unknown:
                problems.append(
                    "%s: unknown key(s) %s (known: name, mode, exclude_columns)" % (where, ", ".join(unknown))
                )
                continue
            given, mode, columns = entry.get("name"), entry.get("mode") or "row", entry.get("exclude_columns")
        else:
            given, mode, columns = entry, "row", None
        try:
            key = identifiers.parse_qualified(given)
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        where = "%s (%s)" % (where, given)
        if mode not in MODES:
            problems.append("%s: mode %r is not one of %s" % (where, mode, ", ".join(MODES)))
            continue
        names, column_problems = parse_columns(columns, where)
        problems.extend(column_problems)
        if key in explicit:
            problems.append("%s: table %s is listed twice" % (where, render(*key)))
            continue
        explicit[key] = dict(given=given, mode=mode, exclude=names)

    rules = []
    for index, entry in enumerate(schemas or []):
        where = "schemas[%d]" % index
        try:
            schema = identifiers.parse_single(entry.get("name"), "schema")
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        patterns = entry.get("exclude") or []
        if not all(isinstance(p, str) for p in patterns):
            problems.append("%s (%s): exclude must be a list of glob patterns" % (where, entry.get("name")))
            continue
        rules.append((entry.get("name"), schema, list(patterns)))

    exclusions = {}
    for given, columns in sorted((exclude_columns or {}).items()):
        where = "exclude_columns[%s]" % given
        try:
            key = identifiers.parse_qualified(given)
        except ValueError as exc:
            problems.append("%s: %s" % (where, exc))
            continue
        names, column_problems = parse_columns(columns, where)
        problems.extend(column_problems)
        exclusions[key] = (given, names)
    return explicit, rules, exclusions, problems


def select_from_schemas(rules, schema_tables, trail_schema):
    """Tables chosen by schema rules: {(schema, table): given} and problems.

    ``schema_tables`` maps a schema name to its tables, or None when the schema does not exist.
    Patterns are shell globs matched, case-sensitively, against the table name.
    """
    chosen, problems = {}, []
    for given, schema, patterns in rules:
        if schema == trail_schema:
            problems.append("schema %s is the audit trail's own schema and cannot be audited" % render(schema))
            continue
        tables = schema_tables.get(schema)
        if tables is None:
            problems.append("schema %s does not exist" % render(schema))
            continue
        for table in tables:
            if any(fnmatch.fnmatchcase(table, pattern) for pattern in patterns):
                continue
            chosen.setdefault((schema, table), given)
    return chosen, problems


def merge_selection(explicit, chosen, exclusions):
    """{(schema, table): {given, mode, exclude}}: explicit entries win over schema rules; the
    top-level exclude_columns add to an entry's own. Problems for exclusions of unselected tables."""
    selection = {}
    for key in chosen:
        selection[key] = dict(given=render(*key), mode="row", exclude=[])
    for key, entry in explicit.items():
        selection[key] = dict(entry, exclude=list(entry["exclude"]))
    problems = []
    for key, (given, columns) in sorted(exclusions.items()):
        if key not in selection:
            problems.append("exclude_columns names table %s, which is not audited (list it in tables)" % given)
            continue
        for column in columns:
            if column not in selection[key]["exclude"]:
                selection[key]["exclude"].append(column)
    return selection, problems


def check_relation(key, entry, info, trail_schema):
    """Problems with one selected table, from its catalog row (None when it does not exist)."""
    name = render(*key)
    if key[0] == trail_schema:
        return ["table %s belongs to the audit trail's own schema and cannot be audited" % name]
    if info is None or info.get("relid") is None:
        return ["table %s does not exist" % name]
    if info["relkind"] not in ("r", "p"):
        return [
            "%s is not a table (relkind %r); only tables and partitioned tables can be audited"
            % (name, info["relkind"])
        ]
    if info["relpersistence"] == "t":
        return ["table %s is temporary" % name]
    if info["relispartition"]:
        return [
            "table %s is a partition of %s: audit the partitioned table, whose triggers cover every partition"
            % (name, render(info["root_schema"], info["root_name"]))
        ]
    problems = []
    for column in entry["exclude"]:
        if column not in info["columns"]:
            problems.append("column %s does not exist in table %s" % (render(column), name))
    if entry["mode"] == "statement" and not info["has_key"]:
        problems.append("table %s has no primary key: statement mode pairs old and new rows by it; use mode row" % name)
    return problems


def check_options(params):
    problems = []
    problem = identifiers.name_problem(params["schema"])
    if problem:
        problems.append("schema: %s" % problem)
    if not _GUC_NAME.match(params["actor_setting"] or ""):
        problems.append(
            "actor_setting %r is not a custom setting name (two or more identifiers joined by dots, like "
            "pgtrail.actor_id)" % params["actor_setting"]
        )
    if params["partition"] != "monthly" and params.get("retention_months") is not None:
        problems.append("retention_months needs partition: monthly (retention drops whole monthly partitions)")
    if params.get("retention_months") is not None and params["retention_months"] < 1:
        problems.append("retention_months must be 1 or more (or null to keep everything)")
    for role in params.get("app_roles") or []:
        problem = identifiers.name_problem(role)
        if problem:
            problems.append("app_roles: %s" % problem)
    return problems
