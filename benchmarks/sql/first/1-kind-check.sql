-- The first design, part 1: a CHECK constraint on audit_log.kind.
-- A row trigger starts one INSERT per audited row, and each INSERT prepares the table's CHECK
-- expressions again; only the trail's own functions write the log, with constant kinds.
ALTER TABLE audit.audit_log ADD CONSTRAINT audit_log_kind_check CHECK (kind IN ('row', 'truncate', 'event', 'ddl'));
