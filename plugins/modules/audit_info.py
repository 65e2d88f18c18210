#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgtrail.audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: audit_info
short_description: Read what a PostgreSQL server audits, where, and whether it still holds
version_added: 0.1.0
description:
  - Reads, without changing anything, the facts the other pgtrail.audit modules and the fleet
    report build on, from the running server.
  - Returns the server version, where its files are, the running and staged
    C(shared_preload_libraries) and where the staged value is set, whether a restart is pending,
    the pgaudit package, library and extension version in each database, every C(pgaudit.*)
    setting at every scope with its source, the effective value of each for every login role in
    every database (RV(effective_policy)), and the login roles that can switch auditing off
    (RV(can_switch_off)).
  - Returns the evidence an auditor asks for, per database, read on one read-only connection
    each (C(default_transaction_read_only)) -- audit trail coverage (audited tables, their
    triggers and whether they are C(ENABLE ALWAYS), tables of audited schemas without
    triggers), who other than superusers and the owner can write to the log, who can C(SET)
    C(pgaudit.*), and what the hash chain's verifier says -- plus the logging parameters the CIS
    and STIG checks read.
  - Returns, for the report's coverage of the seed's "what to audit" and its cost estimate, the
    write counters of every table, the tables object auditing covers, and who may call the
    trail's C(log_event()).
  - Feed the result to the P(pgtrail.audit.compliance#filter) and P(pgtrail.audit.drift#filter)
    filters, or run C(playbooks/report.yml) for a fleet report.
extends_documentation_fragment:
  - pgtrail.audit.connection
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
options:
  databases:
    description:
      - The databases whose extension, trail, log and chain are read, one connection each.
      - Omitted, every database that accepts connections (C(datallowconn)), C(template1)
        included. An empty list reads the server-wide facts only.
      - A database that does not exist or refuses the connection is listed in
        RV(unreachable_databases) and does not fail the task.
    type: list
    elements: str
  trail_schema:
    description:
      - The schema of the trigger-based audit trail, as given to M(pgtrail.audit.audit_trail)
        (O(pgtrail.audit.audit_trail#module:schema)).
    type: str
    default: audit
  verify_chain:
    description:
      - Call C(<trail_schema>.verify_chain()) where it exists and return its result. It reads the
        whole log, so set V(false) when only the other facts are wanted quickly.
    type: bool
    default: true
notes:
  - Run it as a superuser (C(become_user=postgres) on the host) to see everything;
    C(pg_file_settings), where staged values and their file and line come from, needs a superuser
    or C(pg_read_all_settings). Without it RV(preload.staged) is null and RV(preload.error) says why.
  - The package version is looked up with C(dpkg-query) or C(rpm) on the host the module runs on.
seealso:
  - module: pgtrail.audit.audit_trail
  - module: pgtrail.audit.pgaudit_settings
"""

EXAMPLES = r"""
- name: Read the audit facts of the local server
  become: true
  become_user: postgres
  pgtrail.audit.audit_info:
  register: audit

- name: Show whether pgaudit is loaded
  ansible.builtin.debug:
    msg: "pgaudit loaded: {{ audit.pgaudit.loaded }}"

- name: Only the finance database's trail, without walking the hash chain
  become: true
  become_user: postgres
  pgtrail.audit.audit_info:
    databases: [finance]
    verify_chain: false
  register: finance

- name: Check the host against CIS and the STIG
  ansible.builtin.debug:
    msg: "{{ audit | pgtrail.audit.compliance(['cis', 'stig']) | selectattr('status', 'eq', 'fail') | list }}"
"""

RETURN = r"""
server_version:
  description: The server's version string (C(SHOW server_version)).
  returned: always
  type: str
  sample: "15.18 (Debian 15.18-0+deb12u1)"
server_version_num:
  description: The server's version as a number.
  returned: always
  type: int
  sample: 150018
major:
  description: The major version.
  returned: always
  type: int
  sample: 15
data_directory:
  description: The data directory.
  returned: always
  type: str
  sample: /var/lib/postgresql/15/main
config_file:
  description: The main configuration file.
  returned: always
  type: str
  sample: /etc/postgresql/15/main/postgresql.conf
pkglibdir:
  description: Where the server loads libraries from.
  returned: always
  type: str
  sample: /usr/lib/postgresql/15/lib
in_recovery:
  description: Whether the server is a standby (in recovery); standbys take only system-level changes.
  returned: always
  type: bool
  sample: false
shared_preload_libraries:
  description: The running value, as a list.
  returned: always
  type: list
  elements: str
  sample: [pg_stat_statements, pgaudit]
pending_restart:
  description: Settings whose staged value waits for a restart.
  returned: always
  type: list
  elements: str
  sample: [shared_preload_libraries]
preload:
  description: C(shared_preload_libraries), running and staged, and where the staged value is set.
  returned: always
  type: dict
  contains:
    running:
      description: The running list.
      type: list
      elements: str
    staged:
      description: The list the files set (what the next start loads); null when C(pg_file_settings) cannot be read.
      type: list
      elements: str
    source:
      description: C(file), C(line) and C(via) (C(config file), C(ALTER SYSTEM) or C(default)) of the staged value.
      type: dict
    restart_required:
      description: Whether the staged list differs from the running one.
      type: bool
    pgaudit_running:
      description: Whether the running list loads pgaudit (under any spelling, C($libdir/pgaudit) too).
      type: bool
    pgaudit_staged:
      description: Whether the staged list loads pgaudit.
      type: bool
    error:
      description: Why the staged value could not be read.
      type: str
      returned: when C(pg_file_settings) could not be read
  sample:
    running: [pgaudit]
    staged: [pg_stat_statements, pgaudit]
    source: {file: /var/lib/postgresql/15/main/postgresql.auto.conf, line: 3, via: ALTER SYSTEM}
    restart_required: true
    pgaudit_running: true
    pgaudit_staged: true
pgaudit:
  description: The pgaudit package, library, extensions and settings.
  returned: always
  type: dict
  contains:
    library_file:
      description: Whether C(pgaudit.so) is in RV(pkglibdir).
      type: bool
    loaded:
      description: Whether pgaudit is in the running C(shared_preload_libraries).
      type: bool
    available_version:
      description: The extension version the installed package offers, or null.
      type: str
    package:
      description: C(name), C(version) and C(manager) (C(dpkg) or C(rpm)) of the OS package that owns
        C(pgaudit.so), or null.
      type: dict
    settings:
      description:
        - Running C(pgaudit.*) values at system level (empty when not loaded) -- what sessions start
          from, not the reading role's or database's own values.
      type: dict
    extension_versions:
      description: The pgaudit extension version in each database read (null where it is not created).
      type: dict
    settings_by_scope:
      description:
        - Every C(pgaudit.*) value set at some scope, system first, then database, role and role
          in database, each with C(scope), C(target) (the database, the role or C(role@database);
          null for system), C(database), C(role), C(name), C(value) and C(source).
        - C(source.via) is C(config file) (C(source.file) and C(source.line) say where),
          C(ALTER SYSTEM) (C(postgresql.auto.conf)), C(ALTER DATABASE), C(ALTER ROLE),
          C(ALTER ROLE IN DATABASE) or C(ALTER ROLE ALL) (scope C(all_roles), target C(ALL) -- every
          role in every database, under the database value). System entries are the staged
          values, the last of each name.
      type: list
      elements: dict
    system_log:
      description:
        - The system C(pgaudit.log) sessions start from, before any database or role value (the
          running value the files set, else C(none)); C(system) of RV(effective_policy) says where
          it comes from.
      type: str
  sample:
    library_file: true
    loaded: true
    available_version: "1.7"
    package: {name: postgresql-15-pgaudit, version: 1.7.0-2, manager: dpkg}
    settings: {pgaudit.log: "write, ddl"}
    extension_versions: {finance: "1.7", postgres: "1.7", template1: null}
    settings_by_scope:
      - {scope: system, target: null, database: null, role: null, name: pgaudit.log, value: "write, ddl",
         source: {file: /etc/postgresql/15/main/conf.d/audit.conf, line: 2, via: config file}}
      - {scope: database, target: finance, database: finance, role: null, name: pgaudit.log,
         value: "read, write", source: {file: null, line: null, via: ALTER DATABASE}}
    system_log: "write, ddl"
weakening:
  description:
    - The database, role, role-in-database and C(ALTER ROLE ALL) C(pgaudit.log) values that log
      fewer classes than the system value; they replace it for their sessions.
    - Each has C(scope), C(target), C(setting), C(value), C(system_value) and C(classes_dropped);
      a value pgaudit cannot read has C(error) (sessions skip it with a WARNING and take the next
      scope's value).
  returned: always
  type: list
  elements: dict
  sample:
    - {scope: role_in_database, target: etl_loader@warehouse, setting: pgaudit.log, value: none,
       system_value: "write, ddl", classes_dropped: [ddl, write]}
unreached_role_settings:
  description:
    - pgaudit settings of a role that cannot log in (a NOLOGIN group role), at role or
      role-in-database scope. They reach no session, since pgaudit does not inherit role settings
      through membership or C(SET ROLE); C(login_members) lists the login roles (direct or
      indirect members) they do not cover.
  returned: always
  type: list
  elements: dict
  sample:
    - {scope: role, target: dba_team, role: dba_team, database: null, settings: {pgaudit.log: all},
       login_members: [alice, bob]}
effective_policy:
  description:
    - What pgaudit applies to a new session of every login role in every database read that
      accepts connections, with pgaudit's precedence -- role in database, role, database,
      C(ALTER ROLE ALL), system (the files and C(ALTER SYSTEM)), default. Role settings are never
      taken from the roles a login is a member of, and C(SET ROLE) does not change them.
    - C(system) is, per C(pgaudit.*) setting, what sessions start from -- C(value), C(scope)
      (C(system) or C(default)), C(via), C(file), C(line). When the reading role or database has a
      value of its own, the staged value of the files stands in for the running one.
    - C(logins) has one entry per login and database -- C(login), C(database), C(superuser),
      C(settings) (every setting's value, as C(SHOW) prints it), C(sources) (each one's scope --
      C(role_in_database), C(role), C(database), C(all_roles), C(system) or C(default)),
      C(classes_dropped) (the classes the system C(pgaudit.log) logs and this login does not),
      C(ignored) (values the server refuses, which sessions skip for the next scope's) and
      C(not_inherited) (NOLOGIN group roles whose pgaudit settings this login does not get, as
      in RV(unreached_role_settings)).
  returned: always
  type: dict
  sample:
    system:
      pgaudit.log: {value: "ddl, role", scope: system, via: ALTER SYSTEM,
                    file: /var/lib/postgresql/17/main/postgresql.auto.conf, line: 3}
    databases: [app, postgres]
    logins:
      - login: etl
        database: app
        superuser: false
        settings: {pgaudit.log: none, pgaudit.log_relation: "off"}
        sources: {pgaudit.log: role_in_database, pgaudit.log_relation: default}
        classes_dropped: [ddl, role]
        ignored: []
        not_inherited: [{role: dba_team, settings: {pgaudit.log: all}}]
can_switch_off:
  description:
    - The login roles that can switch auditing off, one entry per way -- C(role), C(kind), C(via)
      (the roles it goes through), C(database) and C(what) (parameters or tables).
    - C(kind) is C(superuser); C(becomes_superuser) (it can C(SET ROLE) to a superuser role
      through its memberships -- on PostgreSQL 16+ only along grants with the C(SET) option,
      before 16 along any; inheriting a superuser role's privileges is not being a superuser;
      C(ADMIN) on a superuser role does not count, since only superusers grant such roles);
      C(set_parameter) (C(SET) or C(ALTER SYSTEM) on a C(pgaudit.*) parameter, PostgreSQL 15+,
      granted to it, to a role it inherits or can C(SET ROLE) to, or to C(PUBLIC));
      C(bypassrls) (its own attribute or a role's it can C(SET ROLE) to); C(replication) (its
      own attribute, which replication connections take); C(owns_audited_tables) (it owns, inherits
      or can C(SET ROLE) to the owner of tables the trail audits, per database -- an owner may
      drop or disable the trail's triggers unless the trail's event trigger refuses it).
    - A superuser is listed as C(superuser) only.
  returned: always
  type: list
  elements: dict
  sample:
    - {role: postgres, kind: superuser, via: [], database: null, what: []}
    - {role: alice, kind: becomes_superuser, via: [admins], database: null, what: []}
    - {role: tuner, kind: set_parameter, via: [tuners], database: null, what: [pgaudit.log]}
    - {role: app, kind: owns_audited_tables, via: [], database: shop, what: [public.orders]}
logging:
  description:
    - The running values of the server's logging parameters (C(log_connections),
      C(log_disconnections), C(log_line_prefix), C(log_statement), C(log_timezone),
      C(log_destination), C(logging_collector), C(log_min_messages), C(log_min_error_statement),
      ...), their C(staged) values where the files set
      them, and C(overrides), the C(log_*) values set per database or role.
  returned: always
  type: dict
  sample:
    log_connections: "on"
    log_line_prefix: "%m [%p] %q%u@%d "
    log_statement: none
    log_timezone: Etc/UTC
    staged: {log_connections: "on"}
    overrides: [{scope: role, target: app, name: log_statement, value: all}]
set_user:
  description:
    - The set_user extension (CIS 4.8) -- C(available_version) (null when its package is not
      installed), C(preloaded), and C(databases) where it is created.
  returned: always
  type: dict
  sample: {available_version: null, preloaded: false, databases: []}
databases:
  description: The databases read, one connection each.
  returned: always
  type: list
  elements: str
  sample: [finance, postgres, template1]
unreachable_databases:
  description: Databases that could not be read, with the reason.
  returned: always
  type: dict
  sample: {old_app: "FATAL: database \"old_app\" does not exist"}
closed_databases:
  description:
    - Databases no session of the connecting role can open (C(datallowconn) false, or C(CONNECT)
      not granted), with the reason; they are never read. C(template0) is left out.
  returned: always
  type: dict
  sample: {archive: "does not allow connections (datallowconn is false)"}
trail:
  description:
    - The trigger-based audit trail of each database read, under C(databases).
    - A database without the trail's schema, log or registry has C(status=no trail).
      Otherwise C(status=present), C(audited) (per table -- C(table), C(mode), C(present),
      C(triggers) with their C(enabled) state C(A)/C(O)/C(R)/C(D), C(missing_triggers),
      C(not_always) and C(enable_always)), C(audited_schemas), C(uncovered) (tables of audited
      schemas without the trail's triggers) and C(event_triggers).
  returned: always
  type: dict
  sample:
    schema: audit
    databases:
      postgres: {status: no trail}
      finance:
        status: present
        audited:
          - table: public.payments
            mode: row
            present: true
            triggers: [{relation: public.payments, name: pgtrail_audit_row, enabled: A},
                       {relation: public.payments, name: pgtrail_audit_truncate, enabled: A}]
            missing_triggers: []
            not_always: []
            enable_always: true
        audited_schemas: [public]
        uncovered: [public.scratch]
        event_triggers: {pgtrail_audit_ddl: A, pgtrail_audit_drop: A}
lockdown:
  description:
    - Who could change the audit log or the pgaudit settings -- C(superusers), C(parameter_grants)
      (non-superuser grants of C(SET) or C(ALTER SYSTEM) on C(pgaudit.*), PostgreSQL 15+) and, per
      database with a log, its C(log_table), C(owner) and C(writers) (roles other than superusers
      and the owner, or C(PUBLIC), holding C(INSERT), C(UPDATE), C(DELETE) or C(TRUNCATE) on it,
      granted directly or through membership).
    - On PostgreSQL 17 and later also C(lockers) per database - roles other than superusers and the
      owner that hold C(MAINTAIN) on the log (members of C(pg_maintain)) and C(USAGE) on its schema;
      they can C(LOCK) the log and so hold off the hash chain's sealer, like an owner.
  returned: always
  type: dict
  sample:
    superusers: [postgres]
    parameter_grants: [{parameter: pgaudit.log, role: app_admin, privileges: [SET]}]
    databases:
      finance: {log_table: audit.audit_log, owner: postgres, writers: [{role: etl, privileges: [UPDATE]}]}
hash_chain:
  description:
    - C(enabled) is true when a database read has a hash-chained log (C(prev_hash)/C(row_hash)
      columns or C(<trail_schema>.verify_chain())); per database under C(databases), with
      C(columns), C(verifier) and, where the verifier was called, C(verify) (C(ok), C(checked),
      C(broken_id), C(expected), C(found), C(head_id), C(head_hash); null when the function does
      not return that column) or C(error).
    - "Chain v2 (C(<trail_schema>.chain_block)): also C(version: 2), C(unsealed) (committed rows no
      block holds yet), C(oldest_unsealed_age) (seconds, from the oldest one's C(wall_at)) and,
      after a restore into another cluster, C(warning) saying that C(seal()) refuses and what to do;
      C(verify) is M(pgtrail.audit.chain_verify)'s own check, read-only (C(ok), C(checked),
      C(broken_id), C(position), C(reason), C(head_size), C(head_root), C(origin))."
  returned: always
  type: dict
  sample:
    enabled: true
    databases:
      finance:
        enabled: true
        columns: [prev_hash, row_hash]
        verifier: true
        verify: {ok: true, checked: 1200, broken_id: null, expected: null, found: null, head_id: 1200,
                 head_hash: 9f2c...}
replication:
  description:
    - Logical replication per database, under C(databases) -- C(publications) (C(name),
      C(all_tables) and the trail's tables each one publishes, C(trail_tables)), C(subscriptions)
      (C(name), C(enabled), C(publications), C(owner), C(worker_pids), C(apply_error_count),
      C(sync_error_count)) and C(warnings), also shown as the task's warnings -- the audit log
      is published (other than by the audit vault's insert-only publication of the log alone),
      or a subscription keeps failing.
    - The audit vault's slots on this server, under C(vault_slots) (none on a standby), each with
      C(slot_name), C(database), C(active), C(wal_status) (C(lost) when C(max_slot_wal_keep_size)
      removed WAL the vault had not read; then C(lost) is true), C(safe_wal_size), C(retained_bytes)
      (WAL kept for the vault), C(lag_bytes) (WAL the vault has not confirmed), C(lag_time) (the
      replay lag while the vault is connected) and C(max_slot_wal_keep_size); an inactive or lost
      slot is also a warning.
  returned: always
  type: dict
  sample:
    databases:
      shop:
        publications: [{name: p, all_tables: true, trail_tables: [audit.audit_log, audit.audited_tables]}]
        subscriptions: []
        warnings: ["publication p publishes the audit log audit.audit_log (FOR ALL TABLES): ..."]
    vault_slots:
      - {slot_name: pgtrail_vault_16384, database: shop, active: true, wal_status: reserved, lost: false,
         safe_wal_size: 1073741824, retained_bytes: 56, lag_bytes: 56, lag_time: "00:00:00.001",
         max_slot_wal_keep_size: "1GB"}
backup:
  description:
    - What a role needs to back the trail up with C(pg_dump), per database with a trail, under
      C(databases) -- C(needs) (USAGE on the trail's schema, SELECT on each of its tables,
      partitions and sequences) and C(roles), the roles other than superusers that can log in
      and hold all of it (directly, or through C(pg_read_all_data)).
  returned: always
  type: dict
  sample:
    databases:
      shop:
        needs: [USAGE on schema audit, SELECT on audit.audit_log, SELECT on audit.audit_log_id_seq]
        roles: [backup]
write_rates:
  description:
    - Per database, under C(databases), the rows each table wrote since its statistics began --
      C(tables) (C(table), C(inserts), C(updates), C(deletes) from C(pg_stat_user_tables); a
      partitioned table's partitions counted in it; the trail's own tables left out) -- and the
      period they cover -- C(since) (UTC), C(seconds), and C(reset), true when that is the
      database's last statistics reset, false when it is the server's start (statistics kept
      across a clean restart may be older). The report's cost section divides one by the other.
  returned: always
  type: dict
  sample:
    databases:
      finance:
        reset: false
        since: "2026-11-30T09:12:44Z"
        seconds: 15872.4
        tables: [{table: public.payments, inserts: 1200, updates: 40, deletes: 3}]
object_audit:
  description:
    - pgaudit's object auditing -- C(role), the running C(pgaudit.role) (null when unset), and per
      database, under C(databases), the tables (or their columns) it holds C(SELECT), C(INSERT),
      C(UPDATE) or C(DELETE) on, which pgaudit logs for every role.
  returned: always
  type: dict
  sample:
    role: audit_objects
    databases:
      finance: [{table: public.payments, privileges: [SELECT]}]
application_events:
  description:
    - Per database with the trail's C(log_event()), under C(databases), the function and its
      C(callers), the login roles other than superusers that may call it to record application
      events.
  returned: always
  type: dict
  sample:
    databases:
      finance: {function: audit.log_event, callers: [app_user]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgtrail.audit.plugins.module_utils import audit_info


def main():
    module = AnsibleModule(argument_spec=audit_info.argument_spec(), supports_check_mode=True)
    module.exit_json(**audit_info.run(module))


if __name__ == "__main__":
    main()
