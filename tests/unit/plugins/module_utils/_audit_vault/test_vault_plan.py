"""The audit vault's pure logic: the publication's plan, the copy's columns, the comparison."""

import base64
import hashlib
import hmac

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault import common, plan


def pub(**kw):
    row = dict(
        pubname="pgtrail_vault",
        puballtables=False,
        pubinsert=True,
        pubupdate=False,
        pubdelete=False,
        pubtruncate=False,
        pubviaroot=True,
        tables=["audit.audit_log"],
    )
    row.update(kw)
    return row


@pytest.mark.parametrize(
    "current, steps",
    [
        (None, ["create"]),
        (pub(), []),
        (pub(pubupdate=True), ["set_options"]),
        (pub(pubdelete=True), ["set_options"]),
        (pub(pubtruncate=True), ["set_options"]),
        (pub(pubviaroot=False), ["set_options"]),
        (pub(tables=["audit.audit_log", "public.t"]), ["set_table"]),
        (pub(tables=[]), ["set_table"]),
    ],
)
def test_the_publication_publishes_the_log_alone_inserts_only(current, steps):
    assert plan.publication_steps(current, "audit") == steps


def test_a_for_all_tables_publication_of_that_name_is_refused():
    with pytest.raises(ValueError, match="FOR ALL TABLES"):
        plan.publication_steps(pub(puballtables=True), "audit")


def verifier(password, salt=b"0123456789abcdef", iterations=4096):
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (
        iterations,
        base64.b64encode(salt).decode(),
        base64.b64encode(hashlib.sha256(client).digest()).decode(),
        base64.b64encode(server).decode(),
    )


@pytest.mark.parametrize(
    "stored, password, same",
    [
        (verifier("s3cret"), "s3cret", True),
        (verifier("s3cret"), "other", False),
        ("md5abcdef", "s3cret", False),
        (None, "s3cret", False),
        ("SCRAM-SHA-256$garbage", "s3cret", False),
    ],
)
def test_an_unchanged_password_is_recognised(stored, password, same):
    assert plan.scram_matches(stored, password) is same


def col(name, type_="text"):
    return dict(name=name, type=type_)


def test_the_copy_gains_the_sources_new_columns_and_reports_a_changed_type():
    add, problems = plan.column_steps(
        [col("id", "bigint"), col("note"), col("n", "integer")], [col("id", "bigint"), col("n", "bigint"), col("gone")]
    )
    assert add == [col("note")]
    assert problems == ["column n is bigint in the vault and integer on the source"]
    _add, problems = plan.column_steps([col(common.RECEIVED)], [])
    assert "adds itself" in problems[0]


@pytest.mark.parametrize(
    "vault, source, expected",
    [
        ([(1, "a"), (2, "b")], [(1, "a"), (2, "b")], {}),
        ([(1, "a"), (2, "b"), (3, "c")], [(1, "a"), (3, "c")], {"missing_on_source": [2]}),
        ([(1, "a"), (2, "b")], [(1, "a"), (2, "X")], {"altered_on_source": [2]}),
        ([(1, "a")], [(1, "a"), (2, "b"), (3, "c")], {"not_in_vault": [2, 3]}),
        ([(1, "a"), (1, "a"), (2, "b")], [(1, "a"), (2, "b")], {"duplicated_in_vault": [1]}),
        ([(1, "a"), (2, "b")], [], {"missing_on_source": [1, 2]}),
        ([(1, "a"), (2, "b"), (2, "b")], [(1, "a")], {"missing_on_source": [2], "duplicated_in_vault": [2]}),
    ],
)
def test_the_comparison_names_each_difference_by_id(vault, source, expected):
    result = plan.compare_streams(vault, source, limit=10)
    for key in ("missing_on_source", "altered_on_source", "not_in_vault", "duplicated_in_vault"):
        assert result[key] == expected.get(key, []), key
        assert result["counts"][key] == len(expected.get(key, []))
    assert result["vault_rows"] == len(vault) and result["source_rows"] == len(source)


def test_the_comparison_counts_every_difference_and_lists_up_to_the_limit():
    result = plan.compare_streams([(i, "a") for i in range(10)], [], limit=3)
    assert result["missing_on_source"] == [0, 1, 2] and result["counts"]["missing_on_source"] == 10
    assert "10 row(s) in the vault but missing on the source" in plan.describe_compare(result)


def test_a_slot_is_named_by_its_database_oid():
    assert common.slot_name(16384) == "pgtrail_vault_16384"
