-- The first design, part 3: changed_fields computed by the row trigger at every write, a
-- sub-select (jsonb_each, a sort and array_agg) that the executor sets up for every audited row,
-- INSERT and DELETE included. The trail now computes it on read: audit.changed_fields(old, new).
-- (The first design also sliced the excluded columns out of TG_ARGV on every call.)
ALTER TABLE audit.audit_log ADD COLUMN changed_fields text[];

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
        RETURN NULL;
    END IF;
    actor := "audit"."current_actor"();
    INSERT INTO "audit"."audit_log" (kind, schema_name, table_name, action, old_data, new_data, changed_fields, actor_id)
    VALUES ('row', TG_ARGV[0], TG_ARGV[1], TG_OP, old_row, new_row,
            (SELECT pg_catalog.array_agg(n.key ORDER BY n.key)
               FROM pg_catalog.jsonb_each(new_row) AS n
              WHERE TG_OP = 'UPDATE' AND n.value IS DISTINCT FROM old_row -> n.key),
            actor);
    RETURN NULL;
END
$fn$;
