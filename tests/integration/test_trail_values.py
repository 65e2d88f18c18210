"""Values the log cannot hold as they are (issue 11, part 4): the application's write succeeds and
its log row exists, whatever the row holds.

- Excluded columns are never serialised (a 140 MiB bytea in one is not turned into JSON).
- PostgreSQL 18's virtual generated columns, which triggers see as NULL, are left out of the log
  (never a false null); stored generated columns are logged with their value.
- A value too large for the log is replaced by a marker {"pgtrail_too_large": {"type", "length",
  "sha256"}} (length and hash of its binary form), the largest values first until the row fits.

Every test makes its own database.
"""

import hashlib

import pytest
from pgaudit_testlib import Objects
from test_audit_trail import log, trail

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.sql_functions import TOO_LARGE

MODES = ["row", "statement"]
HUGE = 140 * 1024 * 1024  # the bytea: 280 MB as hex, over jsonb's 255 MB


@pytest.fixture
def made(request):
    host = request.getfixturevalue("pg_all" if "pg_all" in request.fixturenames else "pg")
    objects = Objects(host)
    yield objects
    objects.drop()


# A logged string longer than this reads back as "long:<length>:<md5>", not megabytes of JSON.
SHORT = """(SELECT jsonb_object_agg(e.key, CASE WHEN length(s.text) > 1000 THEN to_jsonb('long:' || length(s.text)
                                                 || ':' || md5(s.text)) ELSE e.value END)
              FROM jsonb_each({0}) AS e, LATERAL (SELECT CASE WHEN jsonb_typeof(e.value) = 'string'
                                                              THEN e.value #>> '{{}}' END AS text) AS s) AS {0}"""


def data(pg, db, table):
    columns = "action, %s, %s" % (SHORT.format("old_data"), SHORT.format("new_data"))
    return log(pg, db, where="kind = 'row' AND table_name = '%s'" % table, columns=columns)


def long(text):
    return "long:%d:%s" % (len(text), hashlib.md5(text.encode()).hexdigest())


@pytest.mark.parametrize("mode", MODES)
def test_virtual_generated_columns_are_left_out_never_a_false_null(pg_all, made, mode):
    if pg_all.major < 18:
        pytest.skip("virtual generated columns are new in PostgreSQL 18")
    db = made.database("pgt_values")
    pg_all.psql(
        "CREATE TABLE public.odd (id int PRIMARY KEY, n numeric, twice numeric GENERATED ALWAYS AS (n * 2) STORED);"
        "CREATE TABLE public.odd_ex (LIKE public.odd INCLUDING GENERATED, note text, PRIMARY KEY (id))",
        db=db,
    )
    tables = [dict(name="public.odd", mode=mode), dict(name="public.odd_ex", mode=mode, exclude_columns=["note"])]
    assert not trail(pg_all, db, tables=tables)["failed"]
    for table in ("odd", "odd_ex"):
        # The input: a virtual column added after the trail is in place (virtual is the default).
        pg_all.psql(
            "ALTER TABLE public.{t} ADD COLUMN thrice numeric GENERATED ALWAYS AS (n * 3);"
            "INSERT INTO public.{t} (id, n) VALUES (1, 2); UPDATE public.{t} SET n = 4; DELETE FROM public.{t}".format(
                t=table
            ),
            db=db,
        )
        assert pg_all.psql("SELECT thrice FROM public.%s" % table, db=db) == ""
        before, after = dict(id=1, n=2, twice=4), dict(id=1, n=4, twice=8)
        assert data(pg_all, db, table) == [
            dict(action="INSERT", old_data=None, new_data=before),
            dict(action="UPDATE", old_data=before, new_data=after),
            dict(action="DELETE", old_data=after, new_data=None),
        ]


def test_huge_values_never_fail_the_write_and_are_logged_as_a_marker(pg, made):
    """The issue's 140 MiB bytea, in an excluded column and in a logged one, in both modes (one
    value, written once, copied to the other table); a 100 kB value (larger than a page, far under
    the limit) is logged whole."""
    if pg.major != 17:
        pytest.skip("one major is enough for the slow part: the code is the same on every major")
    db = made.database("pgt_values")
    tables = {mode: "files_" + mode for mode in MODES}
    for table in tables.values():
        pg.psql(
            "CREATE TABLE public.%s (id int PRIMARY KEY, name text, blob bytea, payload bytea, a text)" % table, db=db
        )
    args = [dict(name="public." + table, mode=mode, exclude_columns=["payload"]) for mode, table in tables.items()]
    assert not trail(pg, db, tables=args)["failed"]
    value = "convert_to(repeat('p', %d), 'UTF8')" % HUGE
    for table in tables.values():
        pg.psql(
            "INSERT INTO public.{t} (id, name) VALUES (1, 'one'), (2, 'big');"
            # An excluded column: the write succeeds and the column never becomes JSON.
            "UPDATE public.{t} SET payload = {value}, name = 'two' WHERE id = 1".format(t=table, value=value),
            db=db,
        )
        value = "(SELECT payload FROM public.%s WHERE id = 1)" % table
    for table in tables.values():
        pg.psql(
            "UPDATE public.{t} SET blob = payload, name = 'three' WHERE id = 1;"
            "DELETE FROM public.{t} WHERE id = 1;"
            "UPDATE public.{t} SET a = repeat('x', 100000) WHERE id = 2;"
            "DELETE FROM public.{t} WHERE id = 2".format(t=table),
            db=db,
        )
    huge = {TOO_LARGE: dict(type="bytea", length=HUGE, sha256=hashlib.sha256(b"p" * HUGE).hexdigest())}
    one = dict(id=1, name="one", blob=None, a=None)
    two, three = dict(one, name="two"), dict(one, name="three", blob=huge)
    big = dict(id=2, name="big", blob=None, a=None)
    big_x = dict(big, a=long("x" * 100000))
    for table in tables.values():
        assert data(pg, db, table) == [
            dict(action="INSERT", old_data=None, new_data=one),
            dict(action="INSERT", old_data=None, new_data=big),
            dict(action="UPDATE", old_data=one, new_data=two),
            dict(action="UPDATE", old_data=two, new_data=three),
            dict(action="DELETE", old_data=three, new_data=None),
            dict(action="UPDATE", old_data=big, new_data=big_x),
            dict(action="DELETE", old_data=big_x, new_data=None),
        ]
