-- Proposed change 3: changed_fields computed when the log is read, not at every write.
-- The row trigger's INSERT carried a sub-select (jsonb_each, a sort and array_agg) that the
-- executor sets up for every audited row, INSERT and DELETE included. The value follows from
-- old_data and new_data, so readers compute it with audit.changed_fields(old_data, new_data).
CREATE FUNCTION audit.changed_fields(old_data jsonb, new_data jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT pg_catalog.array_agg(n.key ORDER BY n.key)
            FROM pg_catalog.jsonb_each(new_data) AS n
           WHERE old_data IS NOT NULL AND n.value IS DISTINCT FROM old_data -> n.key $$;

CREATE OR REPLACE FUNCTION audit.log_row_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $fn$
#variable_conflict use_variable
DECLARE
    excluded text[] := TG_ARGV[2:TG_NARGS - 1];
    old_row jsonb;
    new_row jsonb;
    actor text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := pg_catalog.to_jsonb(OLD) - excluded;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := pg_catalog.to_jsonb(NEW) - excluded;
    END IF;
    IF TG_OP = 'UPDATE' AND old_row = new_row THEN
        RETURN NULL; -- only excluded columns changed, or none did
    END IF;
    actor := "audit"."current_actor"();
    INSERT INTO "audit"."audit_log" (kind, schema_name, table_name, action, old_data, new_data, actor_id)
    VALUES ('row', TG_ARGV[0], TG_ARGV[1], TG_OP, old_row, new_row, actor);
    RETURN NULL;
END
$fn$;
