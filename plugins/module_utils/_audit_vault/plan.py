# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The vault's pure decisions (unit-tested): whether a stored password is the one given, the
publication's steps, the columns the copy needs, and the merge of the comparison."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_vault.common import LOG, RECEIVED


def scram_matches(verifier, password):
    """Whether a stored SCRAM-SHA-256 verifier (``pg_authid.rolpassword``) is ``password``'s, so an
    unchanged password is not set again (RFC 5802 / 7677, as PostgreSQL stores it)."""
    try:
        method, rest = verifier.split("$", 1)
        iterations_salt, keys = rest.split("$", 1)
        iterations, salt = iterations_salt.split(":", 1)
        stored_key, _server_key = keys.split(":", 1)
    except (AttributeError, ValueError):
        return False
    if method != "SCRAM-SHA-256":
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored_key))


def publication_steps(current, schema):
    """The steps ('create' | 'set_options' | 'set_table') that make the publication publish the
    log, inserts only, through the partition root; ``current`` is its pg_publication row with
    ``tables`` (qualified names), or None. Raises ValueError for a FOR ALL TABLES publication of
    that name (it cannot be narrowed; drop it or choose another name)."""
    if current is None:
        return ["create"]
    if current["puballtables"]:
        raise ValueError(
            "publication %s is FOR ALL TABLES: it would carry every table, not only the log; "
            "drop it or choose another publication name" % current["pubname"]
        )
    steps = []
    options = (current["pubinsert"], current["pubupdate"], current["pubdelete"], current["pubtruncate"])
    if options != (True, False, False, False) or not current["pubviaroot"]:
        steps.append("set_options")
    if sorted(current["tables"]) != ["%s.%s" % (schema, LOG)]:
        steps.append("set_table")
    return steps


def column_steps(wanted, current):
    """(columns to add, problems) to bring the vault's copy of the log to the source's columns;
    both are lists of {name, type}. A column of another type is a problem (the copy keeps its
    rows; a type change is for the operator to decide), a column the source dropped is kept."""
    have = dict((c["name"], c["type"]) for c in current)
    add, problems = [], []
    for column in wanted:
        if column["name"] == RECEIVED:
            problems.append("the source's log has a column named %s, which the vault adds itself" % RECEIVED)
        elif column["name"] not in have:
            add.append(column)
        elif have[column["name"]] != column["type"]:
            problems.append(
                "column %s is %s in the vault and %s on the source"
                % (column["name"], have[column["name"]], column["type"])
            )
    return add, problems


def compare_streams(vault_rows, source_rows, limit):
    """Merge two id-ordered streams of (id, hash) and say how they differ (pure).

    Returns {vault_rows, source_rows, missing_on_source, altered_on_source, not_in_vault,
    duplicated_in_vault}: ids listed up to ``limit`` each, with the counts under ``counts``.
    """
    found = dict(missing_on_source=[], altered_on_source=[], not_in_vault=[], duplicated_in_vault=[])
    counts = dict((key, 0) for key in found)
    seen = dict(vault=0, source=0)

    def note(kind, row_id):
        counts[kind] += 1
        if len(found[kind]) < limit:
            found[kind].append(row_id)

    vault_iter, source_iter = iter(vault_rows), iter(source_rows)
    vault, source = next(vault_iter, None), next(source_iter, None)
    last_vault_id = None
    while vault is not None or source is not None:
        if vault is not None and (source is None or vault[0] < source[0]):
            seen["vault"] += 1
            if vault[0] == last_vault_id:
                note("duplicated_in_vault", vault[0])
            else:
                note("missing_on_source", vault[0])
            last_vault_id = vault[0]
            vault = next(vault_iter, None)
        elif source is not None and (vault is None or source[0] < vault[0]):
            seen["source"] += 1
            note("not_in_vault", source[0])
            source = next(source_iter, None)
        else:
            seen["vault"] += 1
            seen["source"] += 1
            if vault[1] != source[1]:
                note("altered_on_source", vault[0])
            last_vault_id = vault[0]
            vault, source = next(vault_iter, None), next(source_iter, None)
            # The same id again in the vault (a copy made twice) is a duplicate, not a deletion.
            while vault is not None and vault[0] == last_vault_id:
                seen["vault"] += 1
                note("duplicated_in_vault", vault[0])
                vault = next(vault_iter, None)
    return dict(found, counts=counts, vault_rows=seen["vault"], source_rows=seen["source"])


def describe_compare(result):
    """One sentence for the comparison's result."""
    counts = result["counts"]
    parts = []
    for key, words in (
        ("missing_on_source", "in the vault but missing on the source"),
        ("altered_on_source", "altered on the source"),
        ("duplicated_in_vault", "held twice in the vault"),
    ):
        if counts[key]:
            parts.append("%d row(s) %s (ids %s)" % (counts[key], words, ", ".join(str(i) for i in result[key])))
    if not parts:
        text = "every row of the vault's copy is on the source, unchanged"
    else:
        text = "; ".join(parts)
    if counts["not_in_vault"]:
        text += "; %d row(s) of the source not in the vault yet" % counts["not_in_vault"]
    return text
