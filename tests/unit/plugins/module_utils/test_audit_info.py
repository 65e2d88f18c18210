"""audit_info's shaping of per-database evidence into its return values (pure)."""

from ansible_collections.pgtrail.audit.plugins.module_utils.audit_info import per_database

PER_DB = {
    "shop": {"lockdown": {"owner": "postgres"}, "backup": None, "pgaudit_version": "1.7"},
    "app": {"lockdown": None, "backup": {"roles": []}, "pgaudit_version": None},
}


def test_every_database_read_is_listed_sorted_with_its_value():
    assert list(per_database(PER_DB, "pgaudit_version").items()) == [("app", None), ("shop", "1.7")]


def test_databases_without_a_trail_are_left_out_where_only_a_trail_counts():
    assert per_database(PER_DB, "lockdown", bool) == {"shop": {"owner": "postgres"}}
    assert per_database(PER_DB, "backup", bool) == {"app": {"roles": []}}
