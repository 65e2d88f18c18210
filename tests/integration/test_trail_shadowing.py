"""No column name of an audited table changes what the trail's functions do (issue 11, part 2).

In the SQL the trail installs, a bare alias or variable can be captured by a column of the same
name (``to_jsonb(n)`` over a table with a column ``n`` serialises the column, not the row). The
names a table must not be able to capture are read from the functions' own source, so an alias
or variable added later is covered too; tables named after all of them are audited in both
modes, with and without excluded columns, and each write must log exactly the row.

Every test makes its own database.
"""

import json
import re

import pytest
from pgaudit_testlib import Objects
from test_audit_trail import log, trail

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import render

# The functions that run while an audited table's rows are in scope, and those called beside it.
TRAIL_FUNCTIONS = ("row_data", "log_row_change", "log_statement_change", "log_truncate", "log_event", "current_actor")
ACTOR = "alice"


def trail_names():
    """Every alias, CTE name, column alias, PL/pgSQL variable and parameter the trail's functions
    use, and the trigger variables (NEW, OLD, TG_*), lower-cased: the column names to try."""
    names = set()
    specs = render.function_specs("audit", "pgtrail.actor_id", None, True, None, virtual_columns=True)
    for spec in specs:
        if spec["name"] not in TRAIL_FUNCTIONS:
            continue
        source = re.sub(r"--[^\n]*", "", spec["source"])
        names.update(re.findall(r"\bAS\s+(?:MATERIALIZED\s+)?([A-Za-z_]\w*)", source, re.I))
        names.update(re.findall(r"\b([A-Za-z_]\w*)\s+AS\s+(?:MATERIALIZED\s+)?\(", source, re.I))
        for columns in re.findall(r"\bAS\s+[A-Za-z_]\w*\s*\(([\w\s,]*)\)", source, re.I):
            names.update(column.strip() for column in columns.split(","))
        declare = re.search(r"\bDECLARE\b(.*?)\bBEGIN\b", source, re.S)
        if declare:
            names.update(re.findall(r"^\s*([A-Za-z_]\w*)\s+[A-Za-z]", declare.group(1), re.M))
        names.update(re.findall(r"\bFOR\s+([A-Za-z_]\w*)\s+IN\b", source, re.I))
        names.update(argument.split()[0] for argument in spec["arguments"].split(", ") if argument)
        names.update(re.findall(r"\b(TG_[A-Z_]+|NEW|OLD)\b", source))
    names = {name.lower() for name in names} - {"materialized", "id"}
    return sorted(names)


NAMES = trail_names()


def test_the_names_come_from_the_functions():
    # The list is derived, not typed: it holds the aliases and variables known today.
    for name in ("n", "o", "t", "m", "r", "d", "hidden", "mask", "actor", "old_row", "whole", "tg_argv", "new"):
        assert name in NAMES


@pytest.fixture
def db(pg_all):
    made = Objects(pg_all)
    yield made.database("pgt_shadow")
    made.drop()


def ident(name):
    return '"%s"' % name


@pytest.mark.parametrize("mode", ["row", "statement"])
def test_a_table_named_after_every_alias_and_variable_is_logged_exactly(pg_all, db, mode):
    excluded = NAMES[::3]
    columns = ", ".join("%s int" % ident(name) for name in NAMES)
    pg_all.psql(
        "CREATE TABLE public.every_name (id int PRIMARY KEY, %s);"
        "CREATE TABLE public.every_name_ex (id int PRIMARY KEY, %s);" % (columns, columns),
        db=db,
    )
    result = trail(
        pg_all,
        db,
        tables=[
            dict(name="public.every_name", mode=mode),
            dict(name="public.every_name_ex", mode=mode, exclude_columns=excluded),
        ],
    )
    assert not result["failed"], result

    def values(base):
        return dict({name: base + i for i, name in enumerate(NAMES)}, id=base)

    first, second = values(1), values(500)
    changed = dict({name: value + 1000 for name, value in first.items()}, id=1)
    assignments = ", ".join("%s = %s + 1000" % (ident(name), ident(name)) for name in NAMES)
    script = ["BEGIN", "SELECT pg_catalog.set_config('pgtrail.actor_id', '%s', true)" % ACTOR]
    for table in ("every_name", "every_name_ex"):
        script += [
            "INSERT INTO public.%s (id, %s) VALUES (%s), (%s)"
            % (
                table,
                ", ".join(ident(n) for n in NAMES),
                ", ".join(str(first[n]) for n in ["id"] + NAMES),
                ", ".join(str(second[n]) for n in ["id"] + NAMES),
            ),
            "UPDATE public.%s SET %s WHERE id = 1" % (table, assignments),
            "DELETE FROM public.%s WHERE id = 500" % table,
        ]
    # Only excluded columns change: nothing to log.
    script.append("UPDATE public.every_name_ex SET %s = 7" % ident(excluded[0]))
    script += ["TRUNCATE public.every_name, public.every_name_ex", "SELECT audit.log_event('checked', 'every_name')"]
    script.append("COMMIT")
    pg_all.psql(";\n".join(script) + ";", db=db)

    def without(row, table):
        if row is None or table == "every_name":
            return row
        return {k: v for k, v in row.items() if k not in excluded}

    expected = []
    for table in ("every_name", "every_name_ex"):
        expected += [
            ("row", table, "INSERT", None, without(first, table), ACTOR),
            ("row", table, "INSERT", None, without(second, table), ACTOR),
            ("row", table, "UPDATE", without(first, table), without(changed, table), ACTOR),
            ("row", table, "DELETE", without(second, table), None, ACTOR),
        ]
    expected += [
        ("truncate", "every_name", "TRUNCATE", None, None, ACTOR),
        ("truncate", "every_name_ex", "TRUNCATE", None, None, ACTOR),
        ("event", "every_name", "checked", None, None, ACTOR),
    ]
    got = [
        (r["kind"], r["table_name"], r["action"], r["old_data"], r["new_data"], r["actor_id"])
        for r in log(pg_all, db, columns="kind, table_name, action, old_data, new_data, actor_id")
    ]
    # Statement mode writes the rows of one statement in no particular order.
    got, expected = (sorted(json.dumps(r, sort_keys=True) for r in rows) for rows in (got, expected))
    assert ([g for g in got if g not in expected], [e for e in expected if e not in got]) == ([], [])


# The inputs of the issue: statement mode, a column named like the trail's row alias.
GIVEN = [
    pytest.param(
        "id int PRIMARY KEY, n int", [], "(1, 1)", dict(id=1, n=1), id="s_n-int-column-n-cannot-delete-from-scalar"
    ),
    pytest.param(
        "id int PRIMARY KEY, n jsonb, secret text",
        ["secret"],
        """(1, '{"a": 1}', 'pw')""",
        dict(id=1, n=dict(a=1)),
        id="s_nj-jsonb-column-n-logged-instead-of-the-row",
    ),
]


@pytest.mark.parametrize("definition, excluded, values, logged", GIVEN)
def test_statement_mode_logs_the_row_not_a_column_named_n(pg, definition, excluded, values, logged):
    made = Objects(pg)
    try:
        db = made.database("pgt_shadow")
        pg.psql("CREATE TABLE public.s (%s)" % definition, db=db)
        result = trail(pg, db, tables=[dict(name="public.s", mode="statement", exclude_columns=excluded)])
        assert not result["failed"], result
        pg.psql("INSERT INTO public.s VALUES %s" % values, db=db)
        assert [r["new_data"] for r in log(pg, db, columns="new_data")] == [logged]
    finally:
        made.drop()
