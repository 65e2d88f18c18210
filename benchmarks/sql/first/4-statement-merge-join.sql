-- The first design, part 4 (statement mode; needs part 3's column): the UPDATE branch rebuilt
-- to_jsonb() of every row in several places, paired old and new rows by a join on a jsonb key
-- that the planner cannot estimate (it expects the square of the rows: a merge join with two
-- sorts spilling to disk, and JIT compilation), and ran the changed_fields sub-select per row.
-- The trail now builds each row's JSON once (MATERIALIZED), hash-joins, and runs the function
-- with jit = off and its own work_mem.
CREATE OR REPLACE FUNCTION audit.log_statement_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $fn$
#variable_conflict use_variable
DECLARE
    excluded text[] := TG_ARGV[2:TG_NARGS - 1];
    non_key text[];
    actor text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM pgtrail_new) THEN
            RETURN NULL;
        END IF;
        actor := "audit"."current_actor"();
        INSERT INTO "audit"."audit_log" (kind, schema_name, table_name, action, new_data, actor_id)
        SELECT 'row', TG_ARGV[0], TG_ARGV[1], 'INSERT', pg_catalog.to_jsonb(n) - excluded, actor
          FROM pgtrail_new AS n;
    ELSIF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT FROM pgtrail_old) THEN
            RETURN NULL;
        END IF;
        actor := "audit"."current_actor"();
        INSERT INTO "audit"."audit_log" (kind, schema_name, table_name, action, old_data, actor_id)
        SELECT 'row', TG_ARGV[0], TG_ARGV[1], 'DELETE', pg_catalog.to_jsonb(o) - excluded, actor
          FROM pgtrail_old AS o;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT FROM pgtrail_old) THEN
            RETURN NULL;
        END IF;
        actor := "audit"."current_actor"();
        IF EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = TG_RELID AND i.indisprimary) THEN
            SELECT coalesce(pg_catalog.array_agg(a.attname::text), '{}') INTO non_key
              FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_index AS i
                                WHERE i.indrelid = TG_RELID AND i.indisprimary AND a.attnum = ANY (i.indkey));
        END IF;
        INSERT INTO "audit"."audit_log" (kind, schema_name, table_name, action, old_data, new_data, changed_fields, actor_id)
        SELECT 'row', TG_ARGV[0], TG_ARGV[1], 'UPDATE', o.data, n.data,
               (SELECT pg_catalog.array_agg(e.key ORDER BY e.key)
                  FROM pg_catalog.jsonb_each(n.data) AS e
                 WHERE o.data IS NOT NULL AND e.value IS DISTINCT FROM o.data -> e.key),
               actor
          FROM (SELECT r.j - non_key AS row_key, r.j - excluded AS data
                  FROM (SELECT pg_catalog.to_jsonb(t) AS j FROM pgtrail_old AS t) AS r) AS o
          FULL JOIN (SELECT r.j - non_key AS row_key, r.j - excluded AS data
                       FROM (SELECT pg_catalog.to_jsonb(t) AS j FROM pgtrail_new AS t) AS r) AS n
            ON n.row_key = o.row_key
         WHERE o.data IS DISTINCT FROM n.data;
    END IF;
    RETURN NULL;
END
$fn$;
