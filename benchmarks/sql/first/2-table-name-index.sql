-- The first design, part 2: a btree on (table_name, changed_at) beside the BRIN on changed_at.
-- One more index to open, search and write (and WAL-log) per audited row; "what happened to this
-- table between t1 and t2" reads the BRIN ranges of [t1, t2] without it.
CREATE INDEX audit_log_table_name_changed_at ON audit.audit_log (table_name, changed_at);
