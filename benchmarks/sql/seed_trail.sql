-- The seed document's trail (/work/shared/seed/audit-logging.md, "Trigger-Based Auditing"),
-- verbatim, on public.accounts. A plain PostgreSQL has no auth schema: auth.uid() is defined
-- the way Supabase defines it, from the request.jwt.claim.sub setting.
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;

-- Audit log table
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  table_name text NOT NULL,
  action text NOT NULL,
  old_data jsonb,
  new_data jsonb,
  actor_id uuid,
  changed_at timestamptz DEFAULT now()
);

-- Generic trigger function
CREATE OR REPLACE FUNCTION process_audit() RETURNS TRIGGER AS $$
BEGIN
  IF (TG_OP = 'DELETE') THEN
    INSERT INTO audit_log(table_name, action, old_data, actor_id)
    VALUES (TG_TABLE_NAME, 'DELETE', to_jsonb(OLD), auth.uid());
  ELSIF (TG_OP = 'UPDATE') THEN
    INSERT INTO audit_log(table_name, action, old_data, new_data, actor_id)
    VALUES (TG_TABLE_NAME, 'UPDATE', to_jsonb(OLD), to_jsonb(NEW), auth.uid());
  ELSIF (TG_OP = 'INSERT') THEN
    INSERT INTO audit_log(table_name, action, new_data, actor_id)
    VALUES (TG_TABLE_NAME, 'INSERT', to_jsonb(NEW), auth.uid());
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Attach trigger to sensitive tables
CREATE TRIGGER audit_sensitive_data
AFTER INSERT OR UPDATE OR DELETE ON accounts
FOR EACH ROW EXECUTE FUNCTION process_audit();
