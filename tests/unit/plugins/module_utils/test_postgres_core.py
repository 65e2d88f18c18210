"""The shared connection and quoting core: pure logic, no server needed."""

from psycopg import sql

from ansible_collections.pgtrail.audit.plugins.module_utils import identifiers, postgres


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


def test_identifiers_are_quoted_not_interpolated():
    schema, table = identifiers.parse_qualified('"x""; DROP TABLE y; --".t')
    rendered = sql.Identifier(schema, table).as_string(None)
    assert rendered == '"x""; DROP TABLE y; --"."t"'
    assert sql.Literal("it's").as_string(None) == "'it''s'"
