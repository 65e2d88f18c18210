-- Proposed change 2: no btree on (table_name, changed_at); the BRIN index on changed_at stays.
-- A second btree is one more index to open, lock, search and write (and WAL) per audited row.
-- "What happened to this table between t1 and t2" still reads only the BRIN ranges of [t1, t2].
DROP INDEX audit.audit_log_table_name_changed_at;
