"""The lockdown's pure logic: what it refuses, and the ownership, grant, default-privilege and
parameter steps it plans from what the catalog says."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail import lockdown as al


def render(statement):
    return statement.as_string(None)


def params(**overrides):
    result = dict(owner="audit_owner", app_roles=["app"], reader_roles=["auditor"], revoke_parameter_grants=True)
    result.update(overrides)
    return result


def role(name, superuser=False, login=True, member=False, writes_all=False):
    return dict(rolname=name, rolsuper=superuser, rolcanlogin=login, owner_member=member, writes_all_data=writes_all)


def relation(name, kind="r", owner="postgres", of_log=False, owned_by_column=False):
    return dict(relname=name, relkind=kind, owner=owner, of_log=of_log, owned_by_column=owned_by_column)


def test_the_owner_must_not_be_an_application_or_reader_role_nor_public():
    assert al.check_request(params(app_roles=["audit_owner"], reader_roles=["public"])) == [
        "reader_roles: PUBLIC is every role, not a role that can be given the log",
        "app_roles names the owner audit_owner: the owner must be a role nobody logs in as",
    ]
    assert al.check_request(params(owner="x" * 64))[0].startswith("owner: name xxx")


def test_an_owner_that_can_log_in_or_is_a_superuser_is_refused_and_a_missing_one_created():
    problems, create = al.check_roles(params(), [role("app"), role("auditor")])
    assert problems == [] and create is True
    problems, create = al.check_roles(params(), [role("audit_owner", login=True), role("app"), role("auditor")])
    assert create is False
    assert problems == [
        "the owner audit_owner can log in: the audit trail's owner must be a NOLOGIN role that is not a superuser, "
        "because whoever logs in as it can rewrite the log; name another role (it is created NOLOGIN)"
    ]
    problems, _create = al.check_roles(params(), [role("audit_owner", superuser=True, login=False)])
    assert "the owner audit_owner is a superuser" in problems[0]


def test_roles_that_no_grant_can_hold_back_are_refused_by_name():
    problems, _create = al.check_roles(
        params(app_roles=["app", "ghost", "etl"], reader_roles=["root"]),
        [
            role("audit_owner", login=False),
            role("app", member=True),
            role("root", superuser=True),
            role("etl", writes_all=True),
        ],
    )
    assert problems == [
        "role app (app_roles) is a member of the owner audit_owner, so it holds every right on the log",
        "role etl (app_roles) is a member of pg_write_all_data, which may write every table, the log included",
        "role ghost does not exist (app_roles)",
        "role root (reader_roles) is a superuser: no grant can hold it back",
    ]


def test_the_owner_takes_the_schema_tables_partitions_functions_but_not_sequences_a_column_owns():
    relations = [
        relation("audit_log", "p", of_log=True),
        relation("audit_log_202601", of_log=True),
        relation("audit_log_id_seq", "S", owned_by_column=True),
        relation("other_seq", "S"),
        relation("audited_tables", owner="audit_owner"),
    ]
    functions = [
        dict(proname="log_event", arguments="action text", owner="postgres", grantees=[]),
        dict(proname="verify_chain", arguments="", owner="audit_owner", grantees=[]),
    ]
    steps = al.plan_ownership("postgres", relations, functions, "audit_owner")
    assert steps == [
        ("SCHEMA", None, None),
        ("TABLE", "audit_log", None),
        ("TABLE", "audit_log_202601", None),
        ("SEQUENCE", "other_seq", None),
        ("FUNCTION", "log_event", "action text"),
    ]
    assert [render(al.ownership_statement("audit", s, "audit_owner")) for s in (steps[0], steps[-1])] == [
        'ALTER SCHEMA "audit" OWNER TO "audit_owner"',
        'ALTER FUNCTION "audit"."log_event"(action text) OWNER TO "audit_owner"',
    ]
    assert al.plan_ownership("audit_owner", [relations[-1]], functions[1:], "audit_owner") == []


def test_app_roles_lose_every_table_privilege_column_ones_too_and_readers_select_the_log_partitions_and_chain():
    relations = [
        relation("audit_log", "p", of_log=True),
        relation("audit_log_default", of_log=True),
        relation("chain_head"),
        relation("chain_block"),
        relation("audit_log_id_seq", "S", owned_by_column=True),
    ]
    current = al.relation_state(
        [
            dict(relname="audit_log", column_name=None, grantee="app", privilege_type="UPDATE"),
            dict(relname="audit_log", column_name="table_name", grantee="app", privilege_type="INSERT"),
            dict(relname="audit_log", column_name=None, grantee="PUBLIC", privilege_type="SELECT"),
            dict(relname="audit_log", column_name=None, grantee="audit_owner", privilege_type="DELETE"),
            dict(relname="chain_head", column_name=None, grantee="auditor", privilege_type="SELECT"),
            dict(relname="chain_head", column_name=None, grantee="app", privilege_type="SELECT"),
            dict(relname="audit_log_id_seq", column_name=None, grantee="app", privilege_type="USAGE"),
        ]
    )
    desired = al.desired_relations(relations, ["auditor"])
    steps = al.plan_relation_grants(relations, current, desired, "audit_owner")
    assert [render(al.relation_statement("audit", s)) for s in steps] == [
        'REVOKE SELECT ON TABLE "audit"."audit_log" FROM PUBLIC',
        'REVOKE UPDATE ON TABLE "audit"."audit_log" FROM "app"',
        'REVOKE INSERT ("table_name") ON TABLE "audit"."audit_log" FROM "app"',
        'GRANT SELECT ON TABLE "audit"."audit_log" TO "auditor"',
        'GRANT SELECT ON TABLE "audit"."audit_log_default" TO "auditor"',
        'REVOKE USAGE ON SEQUENCE "audit"."audit_log_id_seq" FROM "app"',
        'GRANT SELECT ON TABLE "audit"."chain_block" TO "auditor"',
        'REVOKE SELECT ON TABLE "audit"."chain_head" FROM "app"',
    ]
    after = {"audit_log": {"auditor": {"table": {"SELECT"}, "columns": {}}}}
    assert al.plan_relation_grants(relations[:1], after, desired, "audit_owner") == []
    assert al.grant_list("audit", current)[:2] == [
        {"table": "audit.audit_log", "role": "PUBLIC", "privileges": ["SELECT"]},
        {"table": "audit.audit_log", "role": "app", "privileges": ["UPDATE"]},
    ]


def test_schema_usage_goes_to_app_and_reader_roles_and_stays_with_log_event_callers():
    current = [("PUBLIC", "USAGE"), ("PUBLIC", "CREATE"), ("caller", "USAGE"), ("stranger", "USAGE")]
    steps = al.plan_schema_grants(current, ["app"], ["auditor"], ["caller"], "audit_owner")
    assert [render(al.schema_statement("audit", s)) for s in steps] == [
        'REVOKE CREATE ON SCHEMA "audit" FROM PUBLIC',
        'REVOKE USAGE ON SCHEMA "audit" FROM PUBLIC',
        'REVOKE USAGE ON SCHEMA "audit" FROM "stranger"',
        'GRANT USAGE ON SCHEMA "audit" TO "app"',
        'GRANT USAGE ON SCHEMA "audit" TO "auditor"',
    ]


def test_only_readers_may_run_the_verifier_and_log_event_callers_are_left_to_audit_trail():
    functions = [
        dict(proname="log_event", arguments="action text", owner="postgres", grantees=["PUBLIC", "app", "other"]),
        dict(proname="log_row_change", arguments="", owner="postgres", grantees=["PUBLIC", "app"]),
        dict(proname="log_truncate", arguments="", owner="postgres", grantees=["PUBLIC"]),
        dict(proname="verify_chain", arguments="expected_seq bigint", owner="postgres", grantees=["app"]),
    ]
    steps = al.plan_function_grants(functions, ["auditor"], "audit_owner")
    # PUBLIC keeps EXECUTE on the row trigger function: partitions clone its triggers as their owner.
    assert [render(al.function_statement("audit", s)) for s in steps] == [
        'REVOKE ALL ON FUNCTION "audit"."log_event"(action text) FROM PUBLIC',
        'REVOKE ALL ON FUNCTION "audit"."log_row_change"() FROM "app"',
        'REVOKE ALL ON FUNCTION "audit"."log_truncate"() FROM PUBLIC',
        'REVOKE ALL ON FUNCTION "audit"."verify_chain"(expected_seq bigint) FROM "app"',
        'GRANT EXECUTE ON FUNCTION "audit"."verify_chain"(expected_seq bigint) TO "auditor"',
    ]


def test_new_partitions_get_the_readers_select_through_the_owners_default_privileges():
    current = [
        dict(objtype="r", privilege_type="SELECT", grantee="old_reader"),
        dict(objtype="f", privilege_type="EXECUTE", grantee="app"),
    ]
    steps = al.plan_default_privileges(current, ["auditor"])
    assert [render(al.default_statement("audit", "audit_owner", s)) for s in steps] == [
        'ALTER DEFAULT PRIVILEGES FOR ROLE "audit_owner" IN SCHEMA "audit" REVOKE ALL ON FUNCTIONS FROM "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "audit_owner" IN SCHEMA "audit" REVOKE ALL ON TABLES FROM "old_reader"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "audit_owner" IN SCHEMA "audit" GRANT SELECT ON TABLES TO "auditor"',
    ]
    in_place = [dict(objtype="r", privilege_type="SELECT", grantee="auditor")]
    assert al.plan_default_privileges(in_place, ["auditor"]) == []


def test_a_pgaudit_parameter_grant_is_revoked_by_its_dotted_name():
    assert render(al.parameter_statement(dict(parameter="pgaudit.log", role="app", privileges=["SET"]))) == (
        'REVOKE ALL ON PARAMETER "pgaudit"."log" FROM "app"'
    )
    assert render(al.parameter_statement(dict(parameter="pgaudit.role", role="PUBLIC", privileges=["SET"]))).endswith(
        "FROM PUBLIC"
    )


def locked_down(**overrides):
    """What read_grants() returns for a trail already given to audit_owner, as the plan wants it."""
    grants = dict(
        relations=[relation("audit_log", owner="audit_owner", of_log=True)],
        relation_acl={"audit_log": {"auditor": {"table": {"SELECT"}, "columns": {}}}},
        functions=[
            dict(proname="log_event", arguments="action text", owner="audit_owner", grantees=["app"]),
            dict(proname="verify_chain", arguments="", owner="audit_owner", grantees=["auditor"]),
        ],
        schema_acl=[("app", "USAGE"), ("auditor", "USAGE")],
        defaults=[dict(objtype="r", privilege_type="SELECT", grantee="auditor")],
    )
    grants.update(overrides)
    return grants


FACTS = dict(schema_owner="audit_owner")


def test_a_trail_locked_down_as_asked_plans_no_statement_and_says_what_it_keeps():
    plan = al.plan_lockdown(params(schema="audit"), FACTS, locked_down(), [], create_owner=False)
    assert plan["statements"] == [] and plan["revoked"] == [] and plan["created_owner"] is False
    assert plan["event_callers"] == ["app"]
    assert plan["planned"]["schema_acl"] == [("app", "USAGE"), ("auditor", "USAGE")]
    assert [f["grantees"] for f in plan["planned"]["functions"]] == [["app"], ["auditor"]]


PARAMETER_GRANT = dict(parameter="pgaudit.log", role="app", privileges=["SET"])
APP_INSERTS = {
    "audit_log": {"auditor": {"table": {"SELECT"}, "columns": {}}, "app": {"table": {"INSERT"}, "columns": {}}}
}


@pytest.mark.parametrize(
    "change, create_owner, parameters, revoke, expected",
    [
        # a missing owner is created first
        (dict(), True, [], True, ['CREATE ROLE "audit_owner" NOLOGIN']),
        # a grant on the log to an app role goes
        (dict(relation_acl=APP_INSERTS), False, [], True, ['REVOKE INSERT ON TABLE "audit"."audit_log" FROM "app"']),
        # a parameter grant is revoked only when asked
        (dict(), False, [PARAMETER_GRANT], True, ['REVOKE ALL ON PARAMETER "pgaudit"."log" FROM "app"']),
        (dict(), False, [PARAMETER_GRANT], False, []),
    ],
)
def test_each_difference_from_the_locked_down_trail_is_one_statement(
    change, create_owner, parameters, revoke, expected
):
    asked = params(schema="audit", revoke_parameter_grants=revoke)
    plan = al.plan_lockdown(asked, FACTS, locked_down(**change), parameters, create_owner)
    assert [render(s) for s in plan["statements"]] == expected
    assert plan["revoked"] == (parameters if revoke else [])
    assert plan["created_owner"] is create_owner
