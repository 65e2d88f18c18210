-- Proposed change 4 (statement mode): the UPDATE branch pairs old and new rows with each row's
-- JSON built once (MATERIALIZED), by a hash join on the key, and with no changed_fields (change 3).
-- The shipped query rebuilt to_jsonb() of every row several times, sorted 2 x the rows by a
-- jsonb key (spilling to disk past work_mem), ran the changed_fields sub-select once per row, and
-- its row estimate (the square of the rows) switched JIT on; SET jit = off keeps it off, and a
-- work_mem of its own keeps the sorts of a bulk statement in memory.
CREATE OR REPLACE FUNCTION audit.log_statement_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off SET work_mem = '32MB'
    AS $fn$
#variable_conflict use_variable
DECLARE
    excluded text[] := TG_ARGV[2:TG_NARGS - 1];
    key_columns text[];
    actor text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        actor := "audit"."current_actor"();
        INSERT INTO "audit"."audit_log" (kind, schema_name, table_name, action, new_data, actor_id)
        SELECT 'row', TG_ARGV[0], TG_ARGV[1], 'INSERT', pg_catalog.to_jsonb(n) - excluded, actor
          FROM pgtrail_new AS n;
    ELSIF TG_OP = 'DELETE' THEN
        actor := "audit"."current_actor"();
        INSERT INTO "audit"."audit_log" (kind, schema_name, table_name, action, old_data, actor_id)
        SELECT 'row', TG_ARGV[0], TG_ARGV[1], 'DELETE', pg_catalog.to_jsonb(o) - excluded, actor
          FROM pgtrail_old AS o;
    ELSIF TG_OP = 'UPDATE' THEN
        actor := "audit"."current_actor"();
        SELECT pg_catalog.array_agg(a.attname::text) INTO key_columns
          FROM pg_catalog.pg_index AS i
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = TG_RELID AND i.indisprimary;
        INSERT INTO "audit"."audit_log" (kind, schema_name, table_name, action, old_data, new_data, actor_id)
        WITH o AS MATERIALIZED (SELECT pg_catalog.to_jsonb(t) AS j FROM pgtrail_old AS t),
             n AS MATERIALIZED (SELECT pg_catalog.to_jsonb(t) AS j FROM pgtrail_new AS t)
        SELECT 'row', TG_ARGV[0], TG_ARGV[1], 'UPDATE', o.j - excluded, n.j - excluded, actor
          FROM o FULL JOIN n
            ON pg_catalog.jsonb_extract_path(n.j, VARIADIC key_columns)
               = pg_catalog.jsonb_extract_path(o.j, VARIADIC key_columns)
         WHERE (o.j - excluded) IS DISTINCT FROM (n.j - excluded);
    END IF;
    RETURN NULL;
END
$fn$;
