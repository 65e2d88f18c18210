"""shared_preload_libraries entries compared by the library they load: pure logic."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import pgconf

LIB = "/usr/lib/postgresql/15/lib"


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("pgaudit", [LIB + "/pgaudit", LIB + "/pgaudit.so"]),
        (" pgaudit.so ", [LIB + "/pgaudit.so"]),
        ("$libdir/pgaudit", [LIB + "/pgaudit", LIB + "/pgaudit.so"]),
        ('"$libdir/pgaudit"', [LIB + "/pgaudit", LIB + "/pgaudit.so"]),
        ("/opt/lib/x.so", ["/opt/lib/x.so"]),
        ("/opt/lib/../lib/x", ["/opt/lib/x", "/opt/lib/x.so"]),
    ],
)
def test_entries_resolve_like_the_server(entry, expected):
    assert pgconf.library_candidates(entry, LIB) == expected


@pytest.mark.parametrize("entry", ["$other/pgaudit", "lib/pgaudit", ""])
def test_entries_the_server_would_not_find_are_refused_by_name(entry):
    with pytest.raises(ValueError) as err:
        pgconf.library_candidates(entry, LIB)
    assert repr(entry) in str(err.value) or "empty" in str(err.value)


def test_every_spelling_of_a_library_has_one_key():
    keys = {pgconf.library_key(e, LIB) for e in ["pgaudit", "pgaudit.so", "$libdir/pgaudit", LIB + "/pgaudit.so"]}
    assert keys == {LIB + "/pgaudit"}
    assert pgconf.library_key("lib/odd", LIB) == "lib/odd"  # unresolvable: compared as written


def test_a_library_listed_under_another_spelling_is_present():
    assert pgconf.ensure_libraries('"$libdir/pgaudit", x', LIB, present=["pgaudit"]) == ["$libdir/pgaudit", "x"]


def test_missing_libraries_are_appended_once():
    current = "pg_stat_statements , pgaudit"
    assert pgconf.ensure_libraries(current, LIB, present=["pgaudit"]) == ["pg_stat_statements", "pgaudit"]
    assert pgconf.ensure_libraries("a", LIB, present=["pgaudit", "pgaudit.so", "b"]) == ["a", "pgaudit", "b"]


def test_absent_removes_every_spelling_and_keeps_the_order():
    current = ["z", "$libdir/pgaudit", "a", "pgaudit.so"]
    assert pgconf.ensure_libraries(current, LIB, absent="pgaudit") == ["z", "a"]


def test_a_library_both_present_and_absent_is_refused():
    with pytest.raises(ValueError, match="both present and absent"):
        pgconf.ensure_libraries([], LIB, present=["pgaudit"], absent=["pgaudit.so"])
