"""The shared connection and quoting core: pure logic, no server needed."""

import pytest
from psycopg import sql

from ansible_collections.pgtrail.audit.plugins.module_utils import postgres


def params(**over):
    spec = postgres.connection_argument_spec()
    values = {name: opt.get("default") for name, opt in spec.items()}
    values.update(over)
    return values


def test_defaults_use_the_local_socket_as_postgres():
    kwargs = postgres.connection_kwargs(params())
    assert kwargs["user"] == "postgres"
    assert kwargs["dbname"] == "postgres"
    assert "host" not in kwargs
    assert "password" not in kwargs
    assert "sslmode" not in kwargs


def test_tcp_connection_carries_ssl_options_and_password():
    kwargs = postgres.connection_kwargs(
        params(login_host="db1", login_password="s3cret", ssl_mode="verify-full", ca_cert="/ca.pem")
    )
    assert kwargs["host"] == "db1"
    assert kwargs["password"] == "s3cret"
    assert kwargs["sslmode"] == "verify-full"
    assert kwargs["sslrootcert"] == "/ca.pem"


def test_unix_socket_directory_and_database_override():
    kwargs = postgres.connection_kwargs(params(login_unix_socket="/run/pg"), dbname="finance")
    assert kwargs["host"] == "/run/pg"
    assert kwargs["dbname"] == "finance"


def test_connect_params_win_over_defaults():
    kwargs = postgres.connection_kwargs(params(connect_params={"application_name": "ci", "options": "-c x=1"}))
    assert kwargs["application_name"] == "ci"
    assert kwargs["options"] == "-c x=1"


def test_description_never_shows_the_password():
    kwargs = postgres.connection_kwargs(params(login_host="db1", login_password="s3cret"))
    assert "s3cret" not in postgres.describe_target(kwargs)


def test_password_option_is_no_log():
    assert postgres.connection_argument_spec()["login_password"]["no_log"] is True


@pytest.mark.parametrize(
    "name, expected",
    [
        ("payments", ("public", "payments")),
        ("Finance.Payments", ("finance", "payments")),
        ('"Finance"."Payments"', ("Finance", "Payments")),
        ('"a.b"."c ""d"""', ("a.b", 'c "d"')),
        ('public."Ünïcødé tåble"', ("public", "Ünïcødé tåble")),
        ('"x; DROP TABLE y; --"', ("public", "x; DROP TABLE y; --")),
    ],
)
def test_split_qualified_name(name, expected):
    assert postgres.split_qualified_name(name) == expected


@pytest.mark.parametrize("bad", ["", "a.b.c", '"unterminated', 'a"b', "a.", ".a", '"a"x'])
def test_split_qualified_name_rejects_and_names_the_input(bad):
    with pytest.raises(ValueError) as err:
        postgres.split_qualified_name(bad)
    assert repr(bad) in str(err.value)


def test_identifiers_are_quoted_not_interpolated():
    schema, table = postgres.split_qualified_name('"x""; DROP TABLE y; --".t')
    rendered = postgres.qualified(schema, table).as_string(None)
    assert rendered == '"x""; DROP TABLE y; --"."t"'
    assert sql.Literal("it's").as_string(None) == "'it''s'"
