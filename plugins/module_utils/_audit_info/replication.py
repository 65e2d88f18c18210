# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""Logical replication in each database: its publications and subscriptions, and what to warn of."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils.audit_facts import replication_warnings
from ansible_collections.pgtrail.audit.plugins.module_utils.identifiers import render

# Logical replication: the publications of the database (with the trail's tables each
# publishes) and its subscriptions (pg_subscription's columns other than the conninfo, which
# only superusers may read), with their workers and error counts.
PUBLICATIONS = """
SELECT p.pubname::text AS name, p.puballtables AS all_tables,
       ARRAY(SELECT t.tablename::text FROM pg_catalog.pg_publication_tables AS t
              WHERE t.pubname = p.pubname AND t.schemaname = %(schema)s ORDER BY 1) AS trail_tables,
       -- the audit vault's feed (docs/vault.md): the log alone, inserts only
       (NOT p.puballtables AND p.pubinsert AND NOT (p.pubupdate OR p.pubdelete OR p.pubtruncate)
        AND ARRAY(SELECT t.schemaname || '.' || t.tablename FROM pg_catalog.pg_publication_tables AS t
                   WHERE t.pubname = p.pubname)::text[] = ARRAY[%(schema)s || '.audit_log']) AS vault_feed
  FROM pg_catalog.pg_publication AS p ORDER BY 1
"""
SUBSCRIPTIONS = """
SELECT s.subname::text AS name, s.subenabled AS enabled, s.subpublications::text[] AS publications,
       pg_catalog.pg_get_userbyid(s.subowner)::text AS owner,
       ARRAY(SELECT w.pid FROM pg_catalog.pg_stat_subscription AS w
              WHERE w.subid = s.oid AND w.pid IS NOT NULL ORDER BY 1) AS worker_pids,
       st.apply_error_count, st.sync_error_count
  FROM pg_catalog.pg_subscription AS s
  LEFT JOIN pg_catalog.pg_stat_subscription_stats AS st ON st.subid = s.oid
 WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database())
 ORDER BY 1
"""


def read_replication(session, trail_schema):
    """{publications, subscriptions, warnings} of the database."""
    publications = [dict(r) for r in session.query(PUBLICATIONS, dict(schema=trail_schema))]
    for pub in publications:
        pub["trail_tables"] = [render(trail_schema, t) for t in pub["trail_tables"] or []]
    # The vault's feed publishes the log on purpose, forward-only: no warning for it.
    feeds = [pub.pop("vault_feed") for pub in publications]
    subscriptions = [dict(r) for r in session.query(SUBSCRIPTIONS)]
    for sub in subscriptions:
        sub["publications"] = list(sub["publications"] or [])
        sub["worker_pids"] = list(sub["worker_pids"] or [])
    return dict(
        publications=publications,
        subscriptions=subscriptions,
        warnings=replication_warnings(
            [pub for pub, feed in zip(publications, feeds) if not feed], subscriptions, trail_schema
        ),
    )
