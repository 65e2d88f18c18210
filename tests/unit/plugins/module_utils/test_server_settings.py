"""Ordinary server parameters: checked against their pg_settings row and compared by meaning."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import server_settings as ss

BOOL = {"vartype": "bool", "context": "superuser-backend"}
ENUM = {"vartype": "enum", "context": "superuser", "enumvals": ["none", "ddl", "mod", "all"]}
INT = {"vartype": "integer", "context": "postmaster", "min_val": "1", "max_val": "262143"}
TEXT = {"vartype": "string", "context": "sighup"}


@pytest.mark.parametrize("value, expected", [(True, "on"), ("yes", "on"), ("OFF", "off"), ("0", "off"), ("t", "on")])
def test_booleans_are_written_on_or_off(value, expected):
    assert ss.check_value("log_connections", value, BOOL) == expected


def test_a_bad_boolean_is_named():
    with pytest.raises(ValueError, match="log_connections: invalid boolean 'maybe'"):
        ss.check_value("log_connections", "maybe", BOOL)


def test_an_enum_must_be_one_of_its_values():
    assert ss.check_value("log_statement", "DDL", ENUM) == "ddl"
    with pytest.raises(ValueError, match="allowed: none, ddl, mod, all"):
        ss.check_value("log_statement", "some", ENUM)


def test_plain_numbers_are_range_checked_and_units_left_to_the_server():
    assert ss.check_value("max_connections", 120, INT) == "120"
    with pytest.raises(ValueError, match="out of range"):
        ss.check_value("max_connections", 0, INT)
    assert ss.check_value("shared_buffers", "128MB", INT) == "128MB"
    with pytest.raises(ValueError, match="invalid number"):
        ss.check_value("max_connections", "many", INT)


def test_quotes_written_in_yaml_are_removed():
    assert ss.check_value("log_line_prefix", "'%m [%p] '", TEXT) == "%m [%p] "
    assert ss.check_value("log_line_prefix", "'it''s'", TEXT) == "it's"
    assert ss.check_value("log_line_prefix", "%m ", TEXT) == "%m "


def test_refused_and_read_only_parameters_say_why():
    with pytest.raises(ValueError, match="pgtrail.audit.preload"):
        ss.check_value("shared_preload_libraries", "pgaudit", TEXT)
    with pytest.raises(ValueError, match="read-only"):
        ss.check_value("server_version", "1", {"vartype": "string", "context": "internal"})


def test_lists_are_refused():
    with pytest.raises(ValueError, match="single value"):
        ss.check_value("log_line_prefix", ["a"], TEXT)


@pytest.mark.parametrize(
    "a, b, vartype, same",
    [
        ("on", "true", "bool", True),
        ("on", "off", "bool", False),
        ("DDL", "ddl", "enum", True),
        ("100", "100.0", "integer", True),
        ("100", "120", "integer", False),
        ("128MB", "128MB", "integer", True),
        ("%m ", "%m", "string", False),
    ],
)
def test_values_compare_by_meaning(a, b, vartype, same):
    assert ss.same_value(a, b, vartype) is same
