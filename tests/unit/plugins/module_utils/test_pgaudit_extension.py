"""The pgaudit_extension module's choice of databases and the statements each one needs (pure)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_extension as ext


def row(name, allow=True, connect=True):
    return dict(datname=name, datallowconn=allow, can_connect=connect)


ROWS = [
    row("archive", allow=False),
    row("postgres"),
    row("secret", connect=False),
    row("template0", allow=False),
    row("template1"),
]


@pytest.mark.parametrize(
    "names, chosen, skipped, problem",
    [
        # all: every database a session can open, template1 too; the others are said, not template0.
        (["all"], ["postgres", "template1"], ["archive", "secret"], None),
        (["postgres", "all"], ["postgres", "template1"], ["archive", "secret"], None),
        (["postgres"], ["postgres"], [], None),
        (["nope"], [], [], "database 'nope' does not exist"),
        (["archive"], [], [], "database 'archive' does not allow connections (datallowconn is false)"),
        (["secret"], [], [], "database 'secret' does not grant CONNECT to the connecting role"),
    ],
)
def test_the_databases_acted_on(names, chosen, skipped, problem):
    got_chosen, got_skipped, errors = ext.targets(names, ROWS)
    assert got_chosen == chosen
    assert sorted(got_skipped) == skipped
    assert errors == ([] if problem is None else [problem])


@pytest.mark.parametrize(
    "preload, available, expected, problem",
    [
        ("pgaudit", "1.7", False, None),
        ("pg_stat_statements, pgaudit", "1.7", False, None),
        ("pg_stat_statements", "1.7", False, "pgaudit is not in the running shared_preload_libraries"),
        ("pgaudit", None, False, "the pgaudit package is not installed"),
        # A restart that loads pgaudit is pending (check mode): nothing to refuse yet.
        ("", None, True, None),
    ],
)
def test_the_extension_needs_the_library_loaded(preload, available, expected, problem):
    found = ext.loaded_problem(dict(shared_preload_libraries=preload, available_version=available), expected)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize(
    "state, installed, available, steps, after",
    [
        ("present", None, "1.7", ["create"], "1.7"),
        ("present", "1.7", "1.7", [], "1.7"),
        # After a major upgrade there is no ALTER EXTENSION UPDATE across majors: re-create it.
        ("present", "1.7", "17.1", ["drop", "create"], "17.1"),
        ("absent", "1.7", "1.7", ["drop"], None),
        ("absent", None, "1.7", [], None),
    ],
)
def test_each_database_gets_the_statements_it_needs(state, installed, available, steps, after):
    assert ext.plan(state, installed, available) == (steps, after)
