# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the collection: not a public API, it may change without notice.
# Do not use it from other collections or standalone plugins/modules.
"""The DDL event trigger's function: what keeps the registry current and refuses DDL that weakens
the trail.

Table of contents (``audit`` stands for the trail's schema):

- ``audit.log_ddl()`` (LOG_DDL), run by the event triggers ``pgtrail_audit_ddl``
  (ddl_command_end) and ``pgtrail_audit_drop`` (sql_drop), both ENABLE ALWAYS and owned by a
  superuser;
- shared pieces: COMMAND_RELATION (the table a DDL command's object belongs to) and
  TRIGGER_TABLE (the table of a dropped trigger, when it stays).

A psycopg ``sql.SQL`` text, as in sql_functions.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgtrail.audit.plugins.module_utils._audit_trail.names import splice

# The table a DDL command's object (c, a row of pg_event_trigger_ddl_commands()) belongs to, as
# relid: the table itself, an index's table or a trigger's table. Spliced into LOG_DDL twice, at
# the indentation of its <COMMAND_RELATION:n> markers.
COMMAND_RELATION = """CROSS JOIN LATERAL (
       SELECT CASE c.classid
                WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
                  coalesce((SELECT i.indrelid FROM pg_catalog.pg_index AS i WHERE i.indexrelid = c.objid),
                           c.objid)
                WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
                  (SELECT t.tgrelid FROM pg_catalog.pg_trigger AS t WHERE t.oid = c.objid)
              END AS relid) AS r"""


# For a dropped trigger (d, a row of pg_event_trigger_dropped_objects()): the OID of its table
# when that table stays, found by name in the catalog.
TRIGGER_TABLE = """SELECT k.oid AS relid
                  FROM pg_catalog.pg_class AS k
                  JOIN pg_catalog.pg_namespace AS n ON n.oid = k.relnamespace
                 WHERE d.object_type = 'trigger' AND n.nspname = d.address_names[1]
                   AND k.relname = d.address_names[2]"""

# DDL on audited tables (on the table itself, a partition, an index or a trigger of it) and on
# the trail's own objects. Runs for every DDL command of the database, so it only reads the
# small registry and the catalog.
#
# It also refuses, to anyone but a superuser (or a member of the trail's owner, the role this
# function runs as), DDL that weakens the trail: a trail trigger left other than ENABLE ALWAYS
# (DISABLE, ENABLE, ENABLE REPLICA, CREATE OR REPLACE), renamed, or dropped while its table
# stays. A table's owner may still drop the table itself (recorded). Superusers are recorded,
# not refused: like pgaudit, the trail does not protect against them.
#
# It runs as the trail's owner, who may have no USAGE on the audited tables' schemas: it finds
# relations by OID in the catalog (never to_regclass or a regclass cast of a name, which check
# USAGE), and it keeps the registry's names current after a rename or SET SCHEMA, so that the
# triggers log later writes under the table's current name.
LOG_DDL = """
#variable_conflict use_variable
DECLARE
    actor text := {current_actor}();
    privileged boolean := EXISTS (SELECT FROM pg_catalog.pg_roles AS a
                                   WHERE a.rolsuper AND a.rolname IN (SESSION_USER, pg_catalog.current_setting('role')))
                          OR pg_catalog.pg_has_role(SESSION_USER, CURRENT_USER, 'MEMBER');
    weakened text;
BEGIN
    IF TG_EVENT = 'ddl_command_end' THEN
        -- An audited table renamed, moved to another schema, or in a schema renamed.
        UPDATE {registry} AS a
           SET schema_name = n.nspname, table_name = k.relname, updated_at = pg_catalog.now()
          FROM pg_catalog.pg_class AS k
          JOIN pg_catalog.pg_namespace AS n ON n.oid = k.relnamespace
         WHERE k.oid = a.relid::pg_catalog.oid
           AND (a.schema_name, a.table_name) IS DISTINCT FROM (n.nspname::text, k.relname::text)
           AND EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
                        WHERE (c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.objid = k.oid)
                           OR (c.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND c.objid = n.oid));
        INSERT INTO {log} (kind, schema_name, table_name, action, actor_id, metadata)
        SELECT DISTINCT 'ddl', w.schema_name, w.table_name, c.command_tag, actor,
               pg_catalog.jsonb_build_object('object_type', c.object_type, 'object_identity', c.object_identity,
                                             'statement', pg_catalog.current_query())
          FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
<COMMAND_RELATION:9>
         CROSS JOIN LATERAL (
                -- the audited table itself, one above it (a partition) or one below it (ATTACH)
                SELECT a.schema_name, a.table_name
                  FROM {registry} AS a
                 WHERE a.relid::pg_catalog.oid IN (SELECT r.relid UNION ALL
                                                   SELECT x.relid FROM pg_catalog.pg_partition_ancestors(r.relid) AS x
                                                   UNION ALL
                                                   SELECT x.relid FROM pg_catalog.pg_partition_tree(r.relid) AS x)
                UNION ALL
                -- audited tables in a schema renamed
                SELECT a.schema_name, a.table_name
                  FROM {registry} AS a
                  JOIN pg_catalog.pg_class AS k ON k.oid = a.relid::pg_catalog.oid
                 WHERE c.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND k.relnamespace = c.objid
                UNION ALL
                SELECT c.schema_name,
                       coalesce((SELECT k.relname::text FROM pg_catalog.pg_class AS k WHERE k.oid = r.relid),
                                c.object_identity)
                 WHERE c.schema_name = {schema_name}) AS w;
        IF NOT privileged THEN
            SELECT pg_catalog.format('%s %I on %s',
                                     CASE WHEN t.tgname NOT LIKE 'pgtrail\\_audit\\_%' THEN 'renames the audit trigger'
                                          ELSE 'leaves the audit trigger' END,
                                     t.tgname, t.tgrelid::pg_catalog.regclass) ||
                   CASE WHEN t.tgname LIKE 'pgtrail\\_audit\\_%' THEN ' not ENABLE ALWAYS' ELSE '' END
              INTO weakened
              FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
<COMMAND_RELATION:13>
             CROSS JOIN LATERAL (SELECT r.relid UNION
                                 SELECT x.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(r.relid) AS x) AS p
              JOIN pg_catalog.pg_trigger AS t ON t.tgrelid = p.relid
             WHERE NOT t.tgisinternal
               AND (t.tgname LIKE 'pgtrail\\_audit\\_%' OR t.tgfoid IN (
                      SELECT f.oid FROM pg_catalog.pg_proc AS f
                        JOIN pg_catalog.pg_namespace AS n ON n.oid = f.pronamespace
                       WHERE n.nspname = {schema_name} AND f.proname IN ({table_functions})))
               AND (t.tgenabled <> 'A' OR t.tgname NOT LIKE 'pgtrail\\_audit\\_%')
             ORDER BY t.tgrelid, t.tgname
             LIMIT 1;
            IF weakened IS NOT NULL THEN
                RAISE EXCEPTION 'pgtrail.audit: % %; only a superuser may weaken the audit trail', TG_TAG, weakened
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END IF;
    ELSIF TG_EVENT = 'sql_drop' THEN
        IF NOT privileged THEN
            SELECT d.object_identity INTO weakened
              FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
             CROSS JOIN LATERAL ({trigger_table}) AS s
             WHERE d.address_names[3] LIKE 'pgtrail\\_audit\\_%'
             LIMIT 1;
            IF weakened IS NOT NULL THEN
                RAISE EXCEPTION 'pgtrail.audit: % drops the audit trigger % of a table that stays; only a superuser '
                                'may weaken the audit trail', TG_TAG, weakened
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END IF;
        INSERT INTO {log} (kind, schema_name, table_name, action, actor_id, metadata)
        SELECT DISTINCT 'ddl', w.schema_name, w.table_name, TG_TAG, actor,
               pg_catalog.jsonb_build_object('object_type', d.object_type, 'object_identity', d.object_identity,
                                             'statement', pg_catalog.current_query())
          FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
          LEFT JOIN LATERAL ({trigger_table}) AS s ON true
         CROSS JOIN LATERAL (
                -- an audited table
                SELECT a.schema_name, a.table_name
                  FROM {registry} AS a
                 WHERE d.object_type = 'table' AND a.relid::pg_catalog.oid = d.objid
                UNION ALL
                -- a trail trigger on an audited table, or on one of its partitions, still there
                SELECT a.schema_name, a.table_name
                  FROM {registry} AS a
                 WHERE d.address_names[3] LIKE 'pgtrail\\_audit\\_%'
                   AND a.relid::pg_catalog.oid IN (SELECT s.relid UNION ALL
                                                   SELECT x.relid FROM pg_catalog.pg_partition_ancestors(s.relid) AS x)
                UNION ALL
                -- a relation gone with its trail triggers, not an audited table: a partition
                SELECT d.address_names[1], d.address_names[2]
                 WHERE d.object_type = 'trigger' AND d.address_names[3] LIKE 'pgtrail\\_audit\\_%'
                   AND s.relid IS NULL
                   AND NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() AS g
                                     JOIN {registry} AS a ON a.relid::pg_catalog.oid = g.objid
                                    WHERE g.object_type = 'table' AND g.schema_name = d.address_names[1]
                                      AND g.object_name = d.address_names[2])
                UNION ALL
                -- an index dropped by name in a schema of audited tables, under its own name (the
                -- catalog no longer links it to its table by now)
                SELECT d.schema_name, d.object_name
                 WHERE d.object_type = 'index' AND d.original
                   AND EXISTS (SELECT FROM {registry} AS a WHERE a.schema_name = d.schema_name)
                UNION ALL
                -- the trail's own tables and functions
                SELECT d.schema_name, coalesce(d.object_name, d.object_identity)
                 WHERE d.schema_name = {schema_name} AND d.object_type IN ('table', 'function')) AS w;
        DELETE FROM {registry} AS a
         USING pg_catalog.pg_event_trigger_dropped_objects() AS d
         WHERE d.object_type = 'table' AND a.relid::pg_catalog.oid = d.objid;
    END IF;
END
"""
LOG_DDL = splice(LOG_DDL, "COMMAND_RELATION", COMMAND_RELATION)
