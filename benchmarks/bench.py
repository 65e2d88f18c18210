"""What auditing costs: pgtrail.audit against the seed document's trigger and a peer playbook.

Run through benchmarks/run (it provides the virtualenv, the images and the collection path):

    benchmarks/run                 the full run; writes docs/benchmarks.md and docs/benchmarks-ratios.png
    benchmarks/run --smoke         tiny sizes, one host, into a temporary directory (scripts/test bench)
    benchmarks/run --render FILE   render the table, the page and the chart again from a results file

Every comparison runs in the same run, in the same container, each variant on a fresh copy of the
same database (CREATE DATABASE ... TEMPLATE, then CHECKPOINT), variants interleaved and their order
rotated on each repeat; the median of the repeats is reported. The trail is installed by running
the collection's audit_trail module through Ansible's docker connection, as users get it.

Sections (docs/benchmarks.md explains each):
  writes   single-row INSERT, UPDATE and DELETE with pgbench: unaudited, the seed's process_audit(),
           ours in row mode, ours with the hash chain (when the module has hash_chain), and ours
           as first designed (benchmarks/sql/first/ puts back what the profile found costly)
  bulk     one UPDATE of every row: unaudited, seed, ours row mode, ours statement mode (and as
           first designed)
  bytes    log bytes (table + indexes) per audited change
  profile  CPU per audited UPDATE with one part of the first design put back, or one part of
           ours taken away, at a time
  fleet    site.yml against benchmarks/peer/site.yml on 1..n fresh hosts: first converge, no-op
  steady   the no-op re-run of site.yml on 1, 3 and 6 of the same converged hosts (--limit), each
           as a ratio to the 1-host time of the same run: what the steady path costs per host
  vault    a source's write rate with and without the audit vault's subscription, and the vault's
           lag at 1,000 audited writes a second (benchmarks/vault.py; docs/vault.md)
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SUITE, MAJOR = "trixie", 17
# Container names; PGTRAIL_BENCH_PREFIX keeps two runs on one machine apart.
PREFIX = os.environ.get("PGTRAIL_BENCH_PREFIX", "pgtrail-bench-")
ACTOR = "8d5e2a4e-6f1b-4b7a-9a57-3f0d1c2b4e61"
# Databases in the benchmark container: one template per variant, cloned for every measurement.
RUN_DB = "bench_run"

VARIANT_LABELS = {
    "plain": "unaudited",
    "seed": "seed process_audit()",
    "row": "ours, row mode",
    "chain": "ours, row mode + hash chain",
    "first": "ours, row mode, first design",
    "statement": "ours, statement mode",
    "statement_first": "ours, statement mode, first design",
    "to_jsonb": "to_jsonb() of every row, once (no UPDATE)",
}
# Shorter names for the chart.
CHART_LABELS = {
    "plain": "unaudited",
    "seed": "seed trigger",
    "row": "ours, row",
    "chain": "ours, row + chain",
    "first": "ours, row, first design",
    "statement": "ours, statement",
    "statement_first": "ours, statement, first design",
    "to_jsonb": "to_jsonb() of every row",
}
OPS = ("insert", "update", "delete")
# The first design of the trail, put back on top of the shipped one (what the profile found costly).
FIRST = sorted((HERE / "sql" / "first").glob("*.sql"))

# The profile: our row trigger as shipped, with one part of the first design put back or one
# part of ours taken away, each on a fresh copy of the row-mode database, measured as CPU per
# audited UPDATE at 8 clients.
PROFILE = (
    ("row", "ours, row mode, as shipped", []),
    ("kind_check", "+ the CHECK on kind (first design)", ["1-kind-check.sql"]),
    ("table_name_index", "+ the btree (table_name, changed_at) (first design)", ["2-table-name-index.sql"]),
    ("changed_fields_at_write", "+ changed_fields computed at write (first design)", ["3-changed-fields-at-write.sql"]),
    ("no_brin", "- the BRIN index on changed_at (measured only)", "DROP INDEX audit.audit_log_changed_at_brin"),
    (
        "no_definer",
        "- SECURITY DEFINER and its search_path (unsafe; measured only)",
        "ALTER FUNCTION audit.log_row_change() SECURITY INVOKER RESET ALL",
    ),
    (
        "no_defaults",
        "- the context columns' defaults (records less; measured only)",
        "ALTER TABLE audit.audit_log "
        + ", ".join(
            "ALTER %s DROP DEFAULT%s" % (column, ", ALTER %s DROP NOT NULL" % column if notnull else "")
            for column, notnull in (
                ("txid", True),
                ("statement_at", True),
                ("wall_at", True),
                ("login_role", True),
                ("effective_role", True),
                ("application_name", False),
                ("client_addr", False),
                ("client_port", False),
            )
        ),
    ),
    ("first", "the first design, all of it", [p.name for p in FIRST]),
    ("seed", "seed process_audit(), for reference", None),
)

# Issue 14's six targets first (each ratio in one run, same container), then the fleet's.
TARGETS = (
    ("chain", "Chain on / chain off, single-row INSERT, UPDATE, DELETE, 1 and 8 clients: at least 0.9x"),
    ("row_vs_seed", "Ours, row mode without the chain: at least 1.0x the seed trigger's throughput, 1 and 8 clients"),
    ("statement_bulk", "One UPDATE of every row in statement mode: at most 2.0x the unaudited time"),
    ("verify_rate", "Full verification (chain_verify's content pass): at least 500,000 rows per second on one backend"),
    (
        "chain_bytes",
        "Log bytes per change (the log, and chain_block with the chain), chain on / chain off: at most 1.3x",
    ),
    (
        "seal_p99",
        "Sealing latency under load (a seal every second): p99 of at most 5 s from a row's insert to its block",
    ),
    ("fleet_noop", "No-op re-run of site.yml: at most 0.5x the peer playbook's wall time, and changed=0"),
    ("steady_hosts", "No-op re-run of site.yml on the most hosts: at most 2.0x its time on 1 host, and changed=0"),
    (
        "steady_hosts_sudo",
        "The same, over a sudo user with pipelining: at most 2.0x its time on 1 host, and changed=0",
    ),
)

# The chart's short name of each target (TARGETS).
CHART_NAMES = dict(
    row_vs_seed="row mode >= 1.0x seed",
    statement_bulk="statement bulk <= 2.0x",
    chain="chain on/off >= 0.9x",
    chain_bytes="chain bytes <= 1.3x",
    seal_p99="sealing p99 <= 5 s",
    verify_rate="verify >= 500k rows/s",
    fleet_noop="re-run <= 0.5x peer",
    steady_hosts="6 hosts <= 2.0x 1 host",
    steady_hosts_sudo="the same, sudo <= 2.0x",
)

_print_lock = threading.Lock()
_started = time.monotonic()


def say(message):
    with _print_lock:
        print("==> [%4.0f s] %s" % (time.monotonic() - _started, message), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Containers and commands
# ---------------------------------------------------------------------------------------------


def run(cmd, stdin=None, env=None, check=True, cwd=None):
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, cwd=cwd or ROOT, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(
            "%s failed (rc %d): %s%s" % (" ".join(cmd)[:200], proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        )
    return proc


class Container:
    """One test-bed container, started by scripts/testbed.sh and reached with docker exec."""

    def __init__(self, name):
        self.name = name
        self._cgroup = None

    def sh(self, command, user="root", stdin=None, env=None, check=True):
        cmd = ["docker", "exec", "-i", "-u", user]
        for key, value in (env or {}).items():
            cmd += ["-e", "%s=%s" % (key, value)]
        return run(cmd + [self.name, "sh", "-c", command], stdin=stdin, check=check)

    def psql(self, sql, db="postgres", variables=None):
        """Run SQL as postgres (stop at the first error); returns stdout and stderr together."""
        cmd = ["docker", "exec", "-i", "-u", "postgres", self.name, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1"]
        for key, value in (variables or {}).items():
            cmd += ["-v", "%s=%s" % (key, value)]
        proc = run(cmd + ["-d", db], stdin=sql)
        return proc.stdout + proc.stderr

    def scalar(self, sql, db="postgres"):
        return self.psql(sql, db).strip()

    def put(self, path, text):
        self.sh("mkdir -p %s && cat > %s" % (os.path.dirname(path), path), stdin=text)

    def cpu_usec(self):
        """CPU time used by everything in the container so far (cgroup v2 cpu.stat), or None."""
        if self._cgroup is None:
            self._cgroup = cgroup_cpu_stat(self.name) or ""
        if not self._cgroup:
            return None
        try:
            with open(self._cgroup) as handle:
                for line in handle:
                    key, value = line.split()
                    if key == "usage_usec":
                        return int(value)
        except OSError:
            return None
        return None


def cgroup_cpu_stat(name):
    """The cpu.stat of a container's cgroup v2 (the container's own, above systemd's units)."""
    pid = run(["docker", "inspect", "-f", "{{.State.Pid}}", name], check=False).stdout.strip()
    try:
        with open("/proc/%s/cgroup" % pid) as handle:
            path = next(line.split(":", 2)[2].strip() for line in handle if line.startswith("0::"))
    except (OSError, StopIteration):
        return None
    for suffix in ("/init.scope",):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    for mount in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        candidate = Path(mount + path) / "cpu.stat"
        if candidate.exists():
            return str(candidate)
    return None


def start_containers(names):
    """Start test-bed containers in parallel (scripts/testbed.sh run is the one place that knows how)."""
    env = dict(os.environ, PGTRAIL_LABEL="bench")

    def start(name):
        run([str(ROOT / "scripts" / "testbed.sh"), "run", name, SUITE, str(MAJOR)], env=env)
        return Container(name)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return list(pool.map(start, names))


def remove_containers(names):
    for name in names:
        run(["docker", "rm", "-f", name], check=False)


# ---------------------------------------------------------------------------------------------
# Ansible, as a user runs it
# ---------------------------------------------------------------------------------------------


def ansible_env():
    return dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_DEPRECATION_WARNINGS="0",
    )


def run_ansible(cmd):
    """An ansible command with this checkout's config and the json callback: (rc, report, seconds, output)."""
    started = time.monotonic()
    proc = run(cmd, env=ansible_env(), check=False)
    seconds = time.monotonic() - started
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError(
            "%s printed no JSON (rc %d): %s" % (cmd[0], proc.returncode, (proc.stdout + proc.stderr)[-3000:])
        )
    return proc.returncode, report, seconds, proc.stdout + proc.stderr


def module_options(name):
    """The option names of a module, from ansible-doc (so the chain is measured once it lands)."""
    proc = run(["ansible-doc", "-j", name], env=ansible_env(), check=False)
    try:
        doc = json.loads(proc.stdout)
        return set(doc[name]["doc"]["options"])
    except (ValueError, KeyError):
        return set()


def trail_module(container, args, name="audit_trail"):
    """pgtrail.audit.<name> on a container, like a playbook task (become postgres via su)."""
    cmd = ["ansible", "all", "-i", "%s," % container.name, "-c", "community.docker.docker"]
    cmd += ["-m", "pgtrail.audit." + name, "-a", json.dumps(args), "-b", "--become-user", "postgres"]
    cmd += ["--become-method", "su"]
    rc, report, _seconds, output = run_ansible(cmd)
    result = report["plays"][0]["tasks"][0]["hosts"][container.name]
    if rc != 0 or result.get("failed"):
        raise RuntimeError("%s failed on %s: %s" % (name, container.name, result.get("msg", output[-2000:])))
    return result


# Every second, as the sealer's systemd timer runs it; its pid in the file, to stop it.
SEALER = "while true; do psql -XqAt -d %s -c 'SELECT audit.seal()' >/dev/null; sleep 1; done"
SEALER_PID = "/tmp/pgtrail-bench-sealer.pid"
# Per log row written since :since, its insert to the sealed_at of its block: the first block
# whose snapshot saw its transaction ended (chain-v2.md, section 1).
SEAL_LATENCY = """
SELECT count(s.sealed_at), count(*) - count(s.sealed_at),
       percentile_disc(0.99) WITHIN GROUP (ORDER BY EXTRACT(epoch FROM s.sealed_at - l.wall_at)),
       max(EXTRACT(epoch FROM s.sealed_at - l.wall_at))
  FROM audit.audit_log AS l
  LEFT JOIN LATERAL (SELECT b.sealed_at FROM audit.chain_block AS b
                      WHERE b.block > 0 AND l.txid < b.snap_xmax AND NOT l.txid = ANY (b.snap_xip)
                      ORDER BY b.block LIMIT 1) AS s ON true
 WHERE l.wall_at >= :'since'
"""


# ---------------------------------------------------------------------------------------------
# The database benchmarks
# ---------------------------------------------------------------------------------------------


class Bench:
    """The write, bulk, bytes and profile measurements in one container."""

    def __init__(self, container, rows, seconds, repeats, clients, chain):
        self.db = container
        self.rows = rows
        self.seconds = seconds
        self.repeats = repeats
        self.clients = clients
        self.chain = chain
        self.templates = {}
        # Untimed transactions on each fresh copy before a timed run (see warm_up).
        self.warm_up_transactions = min(2000, max(50, rows // 50))

    # -- setup ------------------------------------------------------------------------------

    def prepare(self, variants):
        db = self.db
        db.sh("apt-get install -y -qq python3-psycopg >/dev/null")
        for script in (HERE / "pgbench").glob("*.sql"):
            db.put("/var/tmp/pgtrail-bench/%s" % script.name, script.read_text())
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            names = list(pool.map(self.template, variants))
        self.templates.update(zip(variants, names))
        db.psql("CHECKPOINT;")

    def template(self, variant):
        """The variant's template database: the table, then the trail (the module, as users run it)."""
        db = self.db
        name = "bench_tpl_%s" % variant
        db.psql("DROP DATABASE IF EXISTS %s;\nCREATE DATABASE %s;" % (name, name))
        db.psql((HERE / "sql" / "accounts.sql").read_text(), name, {"rows": self.rows})
        if variant == "seed":
            db.psql((HERE / "sql" / "seed_trail.sql").read_text(), name)
        elif variant in ("row", "first", "chain", "statement", "statement_first"):
            mode = "statement" if variant.startswith("statement") else "row"
            table = {"name": "public.accounts", "mode": mode}
            args = {"database": name, "tables": [table]}
            if variant == "chain":
                args["hash_chain"] = True
            trail_module(db, args)
            if variant.endswith("first"):
                for path in FIRST:
                    db.psql(path.read_text(), name)
        db.psql("VACUUM ANALYZE;", name)
        return name

    def fresh(self, variant, extra_sql=None):
        """A fresh copy of a variant's database, checkpointed; returns its name."""
        db = self.db
        db.psql(
            "DROP DATABASE IF EXISTS %s;\nCREATE DATABASE %s TEMPLATE %s;" % (RUN_DB, RUN_DB, self.templates[variant])
        )
        if extra_sql:
            db.psql(extra_sql, RUN_DB)
        db.psql("CHECKPOINT;", RUN_DB)
        return RUN_DB

    def log_count(self, variant, database):
        query = "SELECT count(*) FROM public.audit_log" if variant == "seed" else "SELECT count(*) FROM audit.audit_log"
        return int(self.db.scalar(query, database))

    # -- pgbench ----------------------------------------------------------------------------

    def pgbench(self, op, clients, database, transactions=None):
        """One pgbench run inside the container on its local socket: dict(tps, transactions, cpu_us)."""
        cmd = "pgbench -n -M prepared -f /var/tmp/pgtrail-bench/%s.sql -D rows=%d -c %d -j %d" % (
            op,
            self.rows,
            clients,
            min(clients, 2),
        )
        cmd += " -t %d" % transactions if transactions else " -T %d" % self.seconds
        # Both trails record the actor: the seed from request.jwt.claim.sub, ours from pgtrail.actor_id.
        options = "-c pgtrail.actor_id=%s -c request.jwt.claim.sub=%s" % (ACTOR, ACTOR)
        before = self.db.cpu_usec()
        proc = self.db.sh("%s %s" % (cmd, database), user="postgres", env={"PGOPTIONS": options}, check=False)
        after = self.db.cpu_usec()
        out = proc.stdout + proc.stderr
        tps = re.search(r"^tps = ([\d.]+)", out, re.M)
        done = re.search(r"number of transactions actually processed: (\d+)", out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        if proc.returncode != 0 or not tps or not done or (failed and int(failed.group(1))):
            raise RuntimeError("pgbench %s failed: %s" % (op, out[-2000:]))
        count = int(done.group(1))
        cpu = (after - before) / count if before is not None and after is not None and count else None
        return dict(tps=float(tps.group(1)), transactions=count, cpu_us=cpu)

    def warm_up(self, op, clients, database):
        """A short untimed run first, so that every variant is measured in its steady state.

        A session plans its statements when it first runs them and keeps the plans; the first
        session on a copy meets an empty log, and plans made for an empty log (sequential scans)
        stay until the next ANALYZE of the log (autovacuum's, within a minute). That made the
        chain's sealing look several times slower for the first seconds of a fresh copy."""
        self.pgbench(op, clients, database, max(1, self.warm_up_transactions // clients))

    def deleted_past_end(self, database):
        """Whether a timed DELETE run ran out of rows (its later DELETEs then removed nothing)."""
        return int(self.db.scalar("SELECT last_value FROM public.bench_delete", database)) > self.rows

    def start_sealer(self, database):
        self.db.sh("sh -c %s >/dev/null 2>&1 & echo $! > %s" % (shlex.quote(SEALER % database), SEALER_PID), "postgres")

    def stop_sealer(self):
        self.db.sh("kill $(cat %s) 2>/dev/null; rm -f %s" % (SEALER_PID, SEALER_PID), "postgres", check=False)

    def chain_measures(self, database, since):
        """After a chain-on run, with its sealer still running: every row's sealing latency, then
        chain_verify's content pass (the module's own SQL, timed on one backend)."""
        for _turn in range(10):  # the sealer's next turns seal the run's last rows
            found = self.db.psql(SEAL_LATENCY, database, {"since": since}).strip()
            sealed, unsealed, p99, worst = found.split("|")
            if int(unsealed) == 0:
                break
            time.sleep(1)
        self.stop_sealer()
        result = trail_module(self.db, {"database": database, "seal": False}, "chain_verify")
        if not result["ok"]:
            raise RuntimeError("the chain of %s does not verify: %s" % (database, result["reason"]))
        content = next(q for q in result["executed_queries"] if "placed AS" in q)
        out = self.db.psql("SET max_parallel_workers_per_gather = 0;\n\\timing on\n%s;\n" % content, database)
        ms = float(re.findall(r"Time: ([\d.]+) ms", out)[-1])
        return dict(
            sealed=int(sealed),
            unsealed=int(unsealed),
            seal_p99=float(p99) if p99 else None,
            seal_max=float(worst) if worst else None,
            verified=result["checked"],
            verify_rows_per_s=result["checked"] / (ms / 1000.0) if ms else None,
        )

    def writes(self, variants):
        """{op: {clients: {variant: [run, ...]}}}, variants interleaved and rotated per repeat.
        The chain-on runs have the sealer beside them, and measure sealing and verification."""
        results = {}
        for op in OPS:
            for clients in self.clients:
                for repeat in range(self.repeats):
                    shift = repeat % len(variants)
                    for variant in variants[shift:] + variants[:shift]:
                        database = self.fresh(variant)
                        if variant == "chain":
                            since = self.db.scalar("SELECT now()", database)
                            self.start_sealer(database)
                        try:
                            self.warm_up(op, clients, database)
                            outcome = self.pgbench(op, clients, database)
                            if variant == "chain":
                                outcome.update(self.chain_measures(database, since))
                        finally:
                            if variant == "chain":
                                self.stop_sealer()
                        if op == "delete" and self.deleted_past_end(database):
                            outcome["ran_out"] = True
                            say("WARNING: the DELETE run ran out of rows: raise --rows or lower --seconds")
                        results.setdefault(op, {}).setdefault(str(clients), {}).setdefault(variant, []).append(outcome)
                        say(
                            "%s, %d client(s), %s: %.0f tps"
                            % (op.upper(), clients, VARIANT_LABELS[variant], outcome["tps"])
                        )
        return results

    # -- one UPDATE of every row ------------------------------------------------------------

    def bulk(self, variants):
        results = {}
        for repeat in range(self.repeats):
            shift = repeat % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                database = self.fresh(variant)
                before = 0 if variant == "plain" else self.log_count(variant, database)
                out = self.db.psql(
                    "\\timing on\nUPDATE public.accounts SET balance = balance + 1, updated_at = now();\n", database
                )
                ms = float(re.findall(r"Time: ([\d.]+) ms", out)[-1])
                logged = None
                if variant != "plain":
                    logged = self.log_count(variant, database) - before
                    if logged != self.rows:
                        raise RuntimeError("%s logged %d rows for an UPDATE of %d" % (variant, logged, self.rows))
                results.setdefault(variant, []).append(dict(seconds=ms / 1000.0, logged=logged))
                say("UPDATE of all %d rows, %s: %.2f s" % (self.rows, VARIANT_LABELS[variant], ms / 1000.0))
            # The unit of any JSON log's floor: to_jsonb() of every row, once (a log of old and
            # new rows pays it twice per UPDATE, whichever trigger writes it).
            out = self.db.psql(
                "\\timing on\nSELECT count(pg_catalog.to_jsonb(t)) FROM public.accounts AS t;\n", database
            )
            ms = float(re.findall(r"Time: ([\d.]+) ms", out)[-1])
            results.setdefault("to_jsonb", []).append(dict(seconds=ms / 1000.0, logged=None))
        return results

    # -- bytes per change -------------------------------------------------------------------

    def sizes(self, variant, database):
        """The log's table and indexes, and chain_block's table and indexes (0 without the chain)."""
        log = "'public.audit_log'" if variant == "seed" else "'audit.audit_log'"
        query = "SELECT pg_table_size(%s) || ' ' || pg_indexes_size(%s)" % (log, log)
        if variant == "chain":
            query += " || ' ' || pg_total_relation_size('audit.chain_block')"
        row = self.db.scalar(query, database)
        table, indexes, chain = ([int(x) for x in row.split()] + [0])[:3]
        return table, indexes, chain, self.log_count(variant, database)

    def bytes(self, variants):
        changes = min(10000, max(30, self.rows // 40))
        results = {}
        for variant in variants:
            database = self.fresh(variant)
            table0, indexes0, chain0, count0 = self.sizes(variant, database)
            if variant == "chain":
                # Sealed as the timer seals (a block a second), then the last rows.
                self.start_sealer(database)
            try:
                for op in OPS:
                    self.pgbench(op, 1, database, changes)
            finally:
                if variant == "chain":
                    self.stop_sealer()
            if variant == "chain":
                self.db.psql("SELECT audit.seal();", database)
            table1, indexes1, chain1, count1 = self.sizes(variant, database)
            logged = count1 - count0
            results[variant] = dict(
                changes=logged,
                table=(table1 - table0) / logged,
                indexes=(indexes1 - indexes0) / logged,
                chain=(chain1 - chain0) / logged,
                total=(table1 + indexes1 + chain1 - table0 - indexes0 - chain0) / logged,
            )
            say("log bytes per change, %s: %.0f" % (VARIANT_LABELS[variant], results[variant]["total"]))
        return results

    # -- the profile ------------------------------------------------------------------------

    def profile(self, transactions, clients=8, only=None):
        entries = [p for p in PROFILE if (p[0] != "seed" or "seed" in self.templates) and (not only or p[0] in only)]
        results = {}
        for repeat in range(self.repeats):
            shift = repeat % len(entries)
            for key, _label, change in entries[shift:] + entries[:shift]:
                if change is None:
                    database = self.fresh("seed")
                elif isinstance(change, str):
                    database = self.fresh("row", change + ";")
                else:
                    sql = "\n".join((HERE / "sql" / "first" / name).read_text() for name in change)
                    database = self.fresh("row", sql or None)
                self.warm_up("update", clients, database)
                outcome = self.pgbench("update", clients, database, max(1, transactions // clients))
                results.setdefault(key, []).append(outcome)
                say(
                    "profile, %s: %s us CPU per UPDATE"
                    % (key, "%.0f" % outcome["cpu_us"] if outcome["cpu_us"] else "n/a")
                )
        return results


def machine_facts(container):
    version = container.scalar("SHOW server_version")
    memory = 0
    try:
        with open("/proc/meminfo") as handle:
            memory = int(handle.readline().split()[1]) // 1024 // 1024
    except OSError:
        pass
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    return dict(
        cores=os.cpu_count(),
        cpu=model,
        memory_gib=memory,
        kernel=platform.release(),
        postgresql=version,
        image="pgtrail-testbed:%s-pg%d" % (SUITE, MAJOR),
        settings=container.scalar(
            "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings "
            "WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size', 'wal_level')"
        ),
    )


def database_sections(args):
    """The database sections a run asked for (the profile only without --skip-profile)."""
    return [
        section
        for section in ("writes", "bulk", "bytes", "profile")
        if section in args.sections and not (section == "profile" and args.skip_profile)
    ]


def database_benchmarks(args, chain):
    name = PREFIX + "db"
    say("starting %s (PostgreSQL %d on %s)" % (name, MAJOR, SUITE))
    remove_containers([name])
    container = start_containers([name])[0]
    try:
        bench = Bench(container, args.rows, args.seconds, args.repeats, args.clients, chain)
        writes = ["plain", "seed", "row"] + (["chain"] if chain else []) + ["first"]
        results = dict(machine=machine_facts(container))
        results["machine"]["load"] = [list(os.getloadavg())]
        if not database_sections(args):
            # --sections fleet: the container only tells what the database is.
            return results
        say("installing the variants: %s" % ", ".join(writes + ["statement", "statement_first"]))
        bench.prepare(writes + ["statement", "statement_first"])
        if "writes" in args.sections:
            results["writes"] = bench.writes(writes)
        if "bulk" in args.sections:
            results["bulk"] = bench.bulk(["plain", "seed", "row", "first", "statement", "statement_first"])
        if "bytes" in args.sections:
            results["bytes"] = bench.bytes(["seed", "row"] + (["chain"] if chain else []) + ["first", "statement"])
        if "profile" in args.sections and not args.skip_profile:
            only = ("row", "kind_check", "no_brin", "first", "seed") if args.smoke else None
            results["profile"] = bench.profile(args.profile_transactions, only=only)
        results["machine"]["load"].append(list(os.getloadavg()))
        return results
    finally:
        if not args.keep:
            remove_containers([name])


# ---------------------------------------------------------------------------------------------
# The fleet
# ---------------------------------------------------------------------------------------------

LOCAL_ACTIONS = {
    "ansible.builtin.set_fact",
    "ansible.builtin.debug",
    "ansible.builtin.assert",
    "ansible.builtin.include_vars",
    "ansible.builtin.include_role",
    "ansible.builtin.include_tasks",
    "ansible.builtin.import_tasks",
    "ansible.builtin.meta",
    "ansible.builtin.fail",
    "ansible.builtin.group_by",
    "ansible.builtin.validate_argument_spec",
    "set_fact",
    "debug",
    "assert",
    "include_vars",
    "include_role",
    "include_tasks",
    "meta",
    "fail",
    "group_by",
    "validate_argument_spec",
}


def playbook_figures(report, hosts):
    """Per-host stats, remote module runs per host, and the slowest tasks, from the json callback."""
    stats = report.get("stats", {})
    calls = dict((h, 0) for h in hosts)
    durations = {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            info = task.get("task", {})
            duration = info.get("duration", {})
            seconds = None
            if duration.get("start") and duration.get("end"):
                start = datetime.datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
                end = datetime.datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                seconds = (end - start).total_seconds()
            for host, result in task.get("hosts", {}).items():
                if host not in calls or result.get("skipped") or result.get("action") in LOCAL_ACTIONS:
                    continue
                items = result.get("results")
                calls[host] += len([r for r in items if not r.get("skipped")]) if isinstance(items, list) else 1
                if seconds is not None:
                    name = info.get("name") or result.get("action", "?")
                    durations[name] = durations.get(name, 0.0) + seconds
    per_host = {}
    for host in hosts:
        s = stats.get(host, {})
        per_host[host] = dict(
            ok=s.get("ok", 0),
            changed=s.get("changed", 0),
            skipped=s.get("skipped", 0),
            failed=s.get("failures", 0) + s.get("unreachable", 0),
            calls=calls[host],
        )
    slowest = sorted(durations.items(), key=lambda kv: -kv[1])[:6]
    return per_host, slowest


# The two ways the steady path is measured: root becoming postgres with su (the test bed's way,
# which cannot pipeline: about nine docker exec per module), and a sudo user with pipelining
# (ansible.cfg's pipelining = True: one docker exec per module), as an SSH user with sudo connects.
SUDO_USER = "deploy"
CONNECTIONS = {
    "su": {"ansible_become_method": "su"},
    "sudo": {"ansible_become_method": "sudo", "ansible_user": SUDO_USER},
}


def add_sudo_user(container):
    """A passwordless sudo user on a test-bed container (the package comes from the image's repository)."""
    container.sh(
        "apt-get install -y -qq sudo >/dev/null && useradd -m -s /bin/bash {0}"
        " && echo '{0} ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/{0}".format(SUDO_USER)
    )


def sibling_inventory(inventory, name):
    """The directory of another inventory beside ``inventory``, not in it: Ansible reads every
    file under an inventory directory, so one inside would override its variables (pure)."""
    return Path(inventory).parent / name


def write_inventory(directory, names, smoke=False, connection="su"):
    """The example inventory's scope on the given hosts; a smoke run trims it to one database.
    ``connection`` is a key of CONNECTIONS."""
    inventory = Path(directory)
    (inventory / "group_vars").mkdir(parents=True, exist_ok=True)
    scope = ROOT / "examples" / "inventory" / "group_vars" / "postgres.yml"
    if smoke:
        import yaml

        values = yaml.safe_load(scope.read_text())
        values["pgaudit_databases"], values["pgaudit_roles"] = {}, {}
        first = sorted(values["audit_triggers_databases"])[0]
        values["audit_triggers_databases"] = {first: values["audit_triggers_databases"][first]}
        (inventory / "group_vars" / "postgres.yml").write_text(yaml.safe_dump(values))
    else:
        shutil.copy(scope, inventory / "group_vars" / "postgres.yml")
    lines = ["postgres:", "  hosts:"]
    lines += ["    %s: {pg_major: %d}" % (name, MAJOR) for name in names]
    lines += ["  vars:", "    ansible_connection: community.docker.docker"]
    lines += ["    %s: %s" % item for item in sorted(CONNECTIONS[connection].items())] + [""]
    (inventory / "hosts.yml").write_text("\n".join(lines))
    return str(inventory)


def run_playbook(inventory, playbook, hosts, extra=None, limit=False):
    cmd = ["ansible-playbook", "-i", inventory, str(playbook)]
    if limit:
        cmd += ["--limit", ",".join(hosts)]
    if extra:
        # JSON, so that booleans stay booleans (key=value extra vars are strings).
        cmd += ["-e", json.dumps(extra)]
    rc, report, seconds, output = run_ansible(cmd)
    per_host, slowest = playbook_figures(report, hosts)
    if rc != 0 or any(h["failed"] for h in per_host.values()):
        raise RuntimeError("%s failed (rc %d): %s" % (playbook, rc, output[-3000:]))
    changed = sum(h["changed"] for h in per_host.values())
    return dict(
        seconds=seconds,
        extra=extra or {},
        tasks=max(h["ok"] for h in per_host.values()),
        calls=max(h["calls"] for h in per_host.values()),
        changed=changed,
        changed_per_host=max(h["changed"] for h in per_host.values()),
        hosts=per_host,
        slowest=slowest,
    )


def fleet_hosts(names, smoke, body):
    """Fresh hosts with the example estate prepared: body(inventory) runs on them, then they go."""
    remove_containers(names)
    start_containers(names)
    try:
        with tempfile.TemporaryDirectory(prefix="pgtrail-bench-") as tmp:
            # A directory of its own: an inventory directory takes in every file under it.
            inventory = write_inventory(Path(tmp) / "inventory", names, smoke)
            run_playbook(inventory, ROOT / "examples" / "prepare-estate.yml", names)
            return body(inventory)
    finally:
        remove_containers(names)


def fleet_tool(tool, count, smoke):
    """Fresh hosts, the example estate, then the tool's first converge and no-op re-run(s)."""
    names = ["%sfleet-%s-%d" % (PREFIX, tool, i + 1) for i in range(count)]
    say("%s on %d fresh host(s): starting %s" % (tool, count, ", ".join(names)))
    playbook = ROOT / ("playbooks/site.yml" if tool == "site" else "benchmarks/peer/site.yml")

    def body(inventory):
        runs = dict(first=run_playbook(inventory, playbook, names))
        say("%s, %d host(s), first converge: %.1f s" % (tool, count, runs["first"]["seconds"]))
        if smoke:
            # A re-run is the same code path; a smoke run stays under two minutes without it.
            return runs
        runs["noop"] = run_playbook(inventory, playbook, names)
        say(
            "%s, %d host(s), re-run: %.1f s, changed=%d"
            % (tool, count, runs["noop"]["seconds"], runs["noop"]["changed"])
        )
        return runs

    return fleet_hosts(names, smoke, body)


def steady_benchmark(args):
    """The no-op re-run of site.yml on 1, 3 and 6 of the same converged hosts, over each of
    CONNECTIONS.

    One set of fresh hosts is converged once (all at once), then site.yml runs again with
    --limit on the first 1, 3, 6 of them, sizes and connections interleaved and their order
    rotated on each repeat; each size's median is reported with its ratio to the 1-host median
    of its connection in this run, so the machine's speed cancels out and what remains is what
    each more host costs. Returns {connection: steady_figures()}.
    """
    counts = sorted(set(args.steady_hosts))
    names = ["%ssteady-%d" % (PREFIX, i + 1) for i in range(max(counts))]
    say("steady path on %d fresh host(s): starting %s" % (len(names), ", ".join(names)))
    playbook = ROOT / "playbooks" / "site.yml"

    def body(inventory):
        first = run_playbook(inventory, playbook, names, extra=dict(pgtrail_serial=len(names)))
        say("steady path: first converge of %d host(s): %.1f s" % (len(names), first["seconds"]))
        # An untimed re-run first: right after a converge the hosts are still busy (autovacuum
        # and autoanalyze of what it made, the sealers' first blocks), which the first timed
        # sizes would pay for and the later ones not.
        warm = run_playbook(inventory, playbook, names)
        say("steady path: untimed warm-up re-run of %d host(s): %.1f s" % (len(names), warm["seconds"]))
        containers = [Container(n) for n in names]
        inventories = dict(su=inventory)
        for container in containers:
            add_sudo_user(container)
        inventories["sudo"] = write_inventory(sibling_inventory(inventory, "sudo"), names, args.smoke, "sudo")
        runs = dict((connection, dict((str(c), []) for c in counts)) for connection in CONNECTIONS)
        # What one host burns with no run at all (its sealers every second, PostgreSQL's
        # background): the hosts' CPU of a run includes it for as long as the run lasts.
        before, started = cpu_seconds(containers), time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle = cpu_delta(before, cpu_seconds(containers))["hosts"]
        idle = None if idle is None else idle / len(containers) / (time.monotonic() - started)
        say("steady path: an idle host uses %s of a core" % ("n/a" if idle is None else "%.3f" % idle))
        order = [(count, connection) for count in counts for connection in sorted(CONNECTIONS)]
        for repeat in range(args.repeats):
            for count, connection in order[repeat % len(order) :] + order[: repeat % len(order)]:
                # The hosts the run reaches: the others idle meanwhile (their sealers, PostgreSQL's
                # background) at the same cost whatever the size.
                before = cpu_seconds(containers[:count])
                result = run_playbook(inventories[connection], playbook, names[:count], limit=True)
                result["cpu"] = cpu_delta(before, cpu_seconds(containers[:count]))
                runs[connection][str(count)].append(result)
                say(
                    "steady path, %s, %d host(s): %.1f s, changed=%d, CPU s: %s"
                    % (connection, count, result["seconds"], result["changed"], fmt_cpu(result["cpu"]))
                )
        for by_count in runs.values():
            by_count["idle"] = idle
        return runs

    runs = fleet_hosts(names, args.smoke, body)
    return dict((connection, steady_figures(runs[connection], cores=os.cpu_count())) for connection in runs)


# Where a run's CPU goes: the controller (ansible-playbook, its workers and the docker CLI they
# start: this process's reaped children), the Docker daemon that relays each docker exec, and the
# hosts (every process in the containers' cgroups).
CPU_PARTS = ("controller", "docker", "hosts")
DOCKER_DAEMONS = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2")


def cpu_seconds(containers):
    """{controller, docker, hosts}: CPU seconds used so far (user + system)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    hosts = [c.cpu_usec() for c in containers]
    return dict(
        controller=children.ru_utime + children.ru_stime,
        docker=daemon_cpu_seconds(DOCKER_DAEMONS),
        hosts=None if None in hosts else sum(hosts) / 1e6,
    )


def daemon_cpu_seconds(commands):
    """CPU seconds of the running processes with these names (/proc/PID/stat utime + stime)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if name in commands:
            total += (int(rest[11]) + int(rest[12])) / float(ticks)
    return total


def cpu_delta(before, after):
    """{part: seconds} between two cpu_seconds() reads; a part that could not be read is None (pure)."""
    return dict(
        (part, None if before[part] is None or after[part] is None else round(after[part] - before[part], 2))
        for part in CPU_PARTS
    )


def fmt_cpu(cpu):
    return ", ".join("%s %s" % (part, "n/a" if cpu.get(part) is None else "%.1f" % cpu[part]) for part in CPU_PARTS)


IDLE_SECONDS = 10


def steady_figures(runs, cores=None):
    """{count: {seconds, ratio, changed, tasks, calls, runs, cpu, busy}}: medians, ratios to 1 host (pure).

    ``cpu`` is the median CPU seconds of each part (CPU_PARTS) when the runs measured it, ``busy``
    their sum over the wall time times ``cores``: near 1.0 the run waited on the machine's cores.
    """
    out = {}
    idle = runs.pop("idle", None)
    for count, results in runs.items():
        out[count] = dict(
            seconds=median(r["seconds"] for r in results),
            runs=[round(r["seconds"], 2) for r in results],
            changed=max(r["changed"] for r in results),
            tasks=max(r["tasks"] for r in results),
            calls=max(r["calls"] for r in results),
        )
        measured = [r["cpu"] for r in results if r.get("cpu")]
        if measured:
            cpu = dict(
                (part, median(m[part] for m in measured) if all(m[part] is not None for m in measured) else None)
                for part in CPU_PARTS
            )
            out[count]["cpu"] = cpu
            total = sum(v for v in cpu.values() if v is not None)
            out[count]["busy"] = round(total / (out[count]["seconds"] * cores), 2) if cores else None
        if idle is not None:
            out[count]["idle_cores_per_host"] = round(idle, 4)
    one = out.get("1", {}).get("seconds")
    for figures in out.values():
        figures["ratio"] = ratio(figures["seconds"], one)
    return out


def fleet_benchmarks(args):
    results = {}
    for count in args.fleet_hosts:
        if args.smoke:
            # No timing is read from a smoke run: both tools at once, to keep it short.
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
                futures = dict((tool, pool.submit(fleet_tool, tool, count, True)) for tool in ("site", "peer"))
                results[str(count)] = dict((tool, f.result()) for tool, f in futures.items())
        else:
            results[str(count)] = dict((tool, fleet_tool(tool, count, False)) for tool in ("site", "peer"))
    return results


# ---------------------------------------------------------------------------------------------
# Figures: medians, ratios, targets (pure)
# ---------------------------------------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a is not None and b else None


def write_medians(results):
    """{op: {clients: {variant: median tps}}}, in OPS and client order (a results file read
    back has its keys sorted, and a rendering must read like the run's)."""
    writes = results.get("writes", {})
    return dict(
        (
            op,
            dict(
                (c, dict((v, median(r["tps"] for r in runs)) for v, runs in writes[op][c].items()))
                for c in sorted(writes[op], key=int)
            ),
        )
        for op in OPS
        if op in writes
    )


def chain_outcomes(results):
    """[(op, clients, run)] of the chain-on write runs that measured sealing and verification."""
    writes = results.get("writes", {})
    return [
        (op, c, r)
        for op in OPS
        for c in sorted(writes.get(op, {}), key=int)
        for r in writes[op][c].get("chain", [])
        if "sealed" in r
    ]


def evaluate(results):
    """The targets: {key: dict(value, met, detail)}; met is None when not measured."""
    out = {}
    tps = write_medians(results)
    cells = [(op, c, by_v) for op, by_c in tps.items() for c, by_v in by_c.items()]
    row_ratios = [(op, c, ratio(by_v.get("row"), by_v.get("seed"))) for op, c, by_v in cells]
    row_ratios = [x for x in row_ratios if x[2] is not None]
    if row_ratios:
        worst = min(row_ratios, key=lambda x: x[2])
        out["row_vs_seed"] = dict(
            value=worst[2],
            met=worst[2] >= 1.0,
            detail="lowest %.2fx (%s, %s client(s)); all: %s"
            % (
                worst[2],
                worst[0].upper(),
                worst[1],
                ", ".join("%s/%s %.2fx" % (o.upper(), c, r) for o, c, r in row_ratios),
            ),
        )
    first = [ratio(by_v.get("first"), by_v.get("seed")) for _op, _c, by_v in cells]
    first = [x for x in first if x is not None]
    if first and "row_vs_seed" in out:
        out["row_vs_seed"]["detail"] += "; the first design: lowest %.2fx" % min(first)
    bulk = results.get("bulk", {})
    plain, statement = (
        median(r["seconds"] for r in bulk.get("plain", [])),
        median(r["seconds"] for r in bulk.get("statement", [])),
    )
    if plain and statement:
        value = statement / plain
        out["statement_bulk"] = dict(
            value=value, met=value <= 2.0, detail="%.2fx (%.2f s against %.2f s)" % (value, statement, plain)
        )
        before = median(r["seconds"] for r in bulk.get("statement_first", []))
        if before:
            out["statement_bulk"]["detail"] += "; the first design: %.2fx" % (before / plain)
    chain_ratios = [(op, c, ratio(by_v.get("chain"), by_v.get("row"))) for op, c, by_v in cells]
    chain_ratios = [x for x in chain_ratios if x[2] is not None]
    if chain_ratios:
        worst = min(chain_ratios, key=lambda x: x[2])
        out["chain"] = dict(
            value=worst[2],
            met=worst[2] >= 0.9,
            detail="lowest %.2fx (%s, %s client(s)); all: %s"
            % (
                worst[2],
                worst[0].upper(),
                worst[1],
                ", ".join("%s/%s %.2fx" % (o.upper(), c, r) for o, c, r in chain_ratios),
            ),
        )
    else:
        out["chain"] = dict(value=None, met=None, detail="n/a (hash chain not available)")
    size = results.get("bytes", {})
    if "chain" in size and "row" in size:
        value = size["chain"]["total"] / size["row"]["total"]
        out["chain_bytes"] = dict(
            value=value,
            met=value <= 1.3,
            detail="%.2fx (%.0f B against %.0f B; chain_block %.0f B of it)"
            % (value, size["chain"]["total"], size["row"]["total"], size["chain"].get("chain", 0)),
        )
    fleet = results.get("fleet", {})
    noop = []
    for count, tools in sorted(fleet.items(), key=lambda kv: int(kv[0])):
        if "noop" not in tools["site"] or "noop" not in tools["peer"]:
            continue
        site, peer = tools["site"]["noop"], tools["peer"]["noop"]
        noop.append((count, site["seconds"] / peer["seconds"], site["changed"]))
    if noop:
        worst = max(noop, key=lambda x: x[1])
        met = all(r <= 0.5 and changed == 0 for _c, r, changed in noop)
        out["fleet_noop"] = dict(
            value=worst[1],
            met=met,
            detail="; ".join("%s host(s): %.2fx, changed=%d" % (c, r, changed) for c, r, changed in noop),
        )
    chain_runs = chain_outcomes(results)
    latencies = [r["seal_p99"] for _op, _c, r in chain_runs if r.get("seal_p99") is not None]
    if latencies:
        out["seal_p99"] = dict(
            value=max(latencies),
            met=max(latencies) <= 5.0 and all(r["unsealed"] == 0 for _op, _c, r in chain_runs),
            detail="worst p99 %.2f s over %d chain-on runs (max %.2f s); rows left unsealed: %d"
            % (
                max(latencies),
                len(latencies),
                max(r["seal_max"] for _op, _c, r in chain_runs if r.get("seal_max") is not None),
                sum(r["unsealed"] for _op, _c, r in chain_runs),
            ),
        )
    rates = [r["verify_rows_per_s"] for _op, _c, r in chain_runs if r.get("verify_rows_per_s")]
    if rates:
        out["verify_rate"] = dict(
            value=median(rates),
            met=median(rates) >= 500000,
            detail="median %.0f rows/s over %d verifications (%.0f-%.0f)"
            % (median(rates), len(rates), min(rates), max(rates)),
        )
    for key, target in (("steady", "steady_hosts"), ("steady_sudo", "steady_hosts_sudo")):
        steady = results.get(key) or {}
        if len(steady) > 1:
            most = max(steady, key=int)
            out[target] = dict(
                value=steady[most]["ratio"],
                met=steady[most]["ratio"] <= 2.0 and all(f["changed"] == 0 for f in steady.values()),
                detail="; ".join(
                    "%s host(s): %.1f s, %s, changed=%d" % (c, f["seconds"], fmt_ratio(f["ratio"]), f["changed"])
                    for c, f in sorted(steady.items(), key=lambda kv: int(kv[0]))
                ),
            )
    return out


def fmt_seconds(value):
    return "n/a" if value is None else "%.2f" % value


def fmt_rate(value):
    return "n/a" if value is None else "%.0f" % value


def fmt_ratio(value):
    return "n/a" if value is None else "%.2fx" % value


def verdict(target):
    if target is None or target["met"] is None:
        return "n/a"
    return "met" if target["met"] else "missed"


def text_table(results):
    """The plain-text table of ratios printed at the end of a run."""
    lines = []
    m = results.get("machine", {})
    p = results.get("params", {})
    lines.append(
        "pgtrail.audit benchmarks: PostgreSQL %s, %s cores, %s rows, %s s x %s repeats (medians)"
        % (
            m.get("postgresql", "?"),
            m.get("cores", "?"),
            p.get("rows", "?"),
            p.get("seconds", "?"),
            p.get("repeats", "?"),
        )
    )
    tps = write_medians(results)
    if tps:
        columns = [(op, c) for op in OPS for c in sorted(tps.get(op, {}), key=int)]
        lines.append("")
        lines.append("1. Single-row writes: throughput relative to the seed trigger (higher is better)")
        header = "%-40s" % "" + "".join("%12s" % ("%s c%s" % (op.upper(), c)) for op, c in columns)
        lines.append(header)
        variants = [v for v in ("plain", "seed", "row", "chain", "first") if any(v in tps[op][c] for op, c in columns)]
        for variant in variants:
            cells = [fmt_ratio(ratio(tps[op][c].get(variant), tps[op][c].get("seed"))) for op, c in columns]
            lines.append("%-40s" % VARIANT_LABELS[variant] + "".join("%12s" % x for x in cells))
        cells = []
        for op, c in columns:
            value = ratio(tps[op][c].get("chain"), tps[op][c].get("row"))
            cells.append(fmt_ratio(value) if "chain" in tps[op][c] else "n/a")
        label = "chain on / chain off"
        if not any("chain" in tps[op][c] for op, c in columns):
            label = "chain on / off: n/a (hash chain not available)"
        lines.append("%-40s" % label + "".join("%12s" % x for x in cells))
        lines.append(
            "%-40s" % "seed tps (for scale)" + "".join("%12.0f" % (tps[op][c].get("seed") or 0) for op, c in columns)
        )
    bulk = results.get("bulk")
    if bulk:
        plain = median(r["seconds"] for r in bulk["plain"])
        lines.append("")
        lines.append("2. One UPDATE of every row: time relative to unaudited (lower is better)")
        for variant in ("plain", "seed", "row", "first", "statement", "statement_first", "to_jsonb"):
            if variant in bulk:
                seconds = median(r["seconds"] for r in bulk[variant])
                lines.append("%-40s%12s%10.2f s" % (VARIANT_LABELS[variant], fmt_ratio(ratio(seconds, plain)), seconds))
    size = results.get("bytes")
    if size:
        lines.append("")
        lines.append("3. Log bytes (table + indexes) per audited change, relative to the seed")
        for variant in ("seed", "row", "chain", "first", "statement"):
            if variant in size:
                s = size[variant]
                lines.append(
                    "%-40s%12s%8.0f B  (table %.0f, indexes %.0f%s)"
                    % (
                        VARIANT_LABELS[variant],
                        fmt_ratio(ratio(s["total"], size["seed"]["total"])),
                        s["total"],
                        s["table"],
                        s["indexes"],
                        ", chain_block %.0f" % s["chain"] if s.get("chain") else "",
                    )
                )
    fleet = results.get("fleet")
    if fleet:
        lines.append("")
        lines.append("4. Fleet: site.yml against the peer playbook (wall time; tasks and changed per host)")
        lines.append(
            "%-7s%-26s%12s%12s%10s%10s%14s" % ("hosts", "run", "site.yml", "peer", "ratio", "tasks", "changed")
        )
        for count, tools in sorted(fleet.items(), key=lambda kv: int(kv[0])):
            for key, label in (("first", "first converge"), ("noop", "no-op re-run")):
                if key not in tools["site"] or key not in tools["peer"]:
                    continue
                s, q = tools["site"][key], tools["peer"][key]
                lines.append(
                    "%-7s%-26s%11.1fs%11.1fs%10s%10s%14s"
                    % (
                        count,
                        label,
                        s["seconds"],
                        q["seconds"],
                        fmt_ratio(s["seconds"] / q["seconds"]),
                        "%d/%d" % (s["tasks"], q["tasks"]),
                        "%d/%d" % (s["changed_per_host"], q["changed_per_host"]),
                    )
                )
    for key, over in (("steady", "root, su"), ("steady_sudo", "a sudo user, pipelining")):
        steady = results.get(key)
        if not steady:
            continue
        lines.append("")
        lines.append(
            "5. Steady path: no-op re-run of site.yml on n of the same hosts over %s (median; ratio to 1 host)" % over
        )
        lines.append(
            "%-7s%12s%10s%10s%10s%10s%12s%12s%12s%8s"
            % ("hosts", "wall", "ratio", "tasks", "calls", "changed", "ctl cpu", "docker cpu", "hosts cpu", "busy")
        )
        for count, f in sorted(steady.items(), key=lambda kv: int(kv[0])):
            cpu = f.get("cpu") or {}
            lines.append(
                "%-7s%11.1fs%10s%10d%10d%10d"
                % (count, f["seconds"], fmt_ratio(f["ratio"]), f["tasks"], f["calls"], f["changed"])
                + "".join("%12s" % ("n/a" if cpu.get(part) is None else "%.1fs" % cpu[part]) for part in CPU_PARTS)
                + "%8s" % ("n/a" if f.get("busy") is None else "%.2f" % f["busy"])
            )
    targets = evaluate(results)
    lines.append("")
    lines.append("Targets")
    for key, text in TARGETS:
        t = targets.get(key)
        lines.append("  [%s] %s: %s" % (verdict(t), text, t["detail"] if t else "not measured"))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# docs/benchmarks.md and the chart
# ---------------------------------------------------------------------------------------------


def md_table(header, rows):
    out = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(header))) + "|",
    ]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def markdown_sections(results):
    s = {}
    tps = write_medians(results)
    writes = results.get("writes", {})
    rows = []
    for op in OPS:
        for c in sorted(tps.get(op, {}), key=int):
            for variant in ("plain", "seed", "row", "chain", "first"):
                if variant not in tps[op][c]:
                    continue
                runs = writes[op][c][variant]
                cpu = median(r["cpu_us"] for r in runs)
                rows.append(
                    [
                        "%s, %s client(s)" % (op.upper(), c),
                        VARIANT_LABELS[variant],
                        "%.0f" % tps[op][c][variant],
                        " / ".join("%.0f" % r["tps"] for r in runs),
                        fmt_ratio(ratio(tps[op][c][variant], tps[op][c].get("seed"))),
                        fmt_ratio(ratio(tps[op][c][variant], tps[op][c].get("plain"))),
                        "%.0f" % cpu if cpu else "n/a",
                    ]
                )
    s["writes_table"] = (
        md_table(
            ["workload", "variant", "tps (median)", "runs", "vs seed", "vs unaudited", "container CPU per write (us)"],
            rows,
        )
        if rows
        else "Not measured."
    )
    chain_rows = []
    for op in OPS:
        for c in sorted(tps.get(op, {}), key=int):
            if "chain" in tps[op][c]:
                chain_rows.append(
                    ["%s, %s client(s)" % (op.upper(), c), fmt_ratio(ratio(tps[op][c]["chain"], tps[op][c].get("row")))]
                )
    measured = {}
    for op, c, r in chain_outcomes(results):
        measured.setdefault((op, c), []).append(r)
    s["chain_measures"] = (
        md_table(
            ["workload", "rows sealed", "sealing p99 (s)", "sealing max (s)", "rows verified", "verification rows/s"],
            [
                [
                    "%s, %s client(s)" % (op.upper(), c),
                    "%d" % median(r["sealed"] for r in runs),
                    fmt_seconds(median(r["seal_p99"] for r in runs if r["seal_p99"] is not None)),
                    fmt_seconds(max((r["seal_max"] for r in runs if r["seal_max"] is not None), default=None)),
                    "%d" % median(r["verified"] for r in runs),
                    fmt_rate(median(r["verify_rows_per_s"] for r in runs if r["verify_rows_per_s"])),
                ]
                for (op, c), runs in measured.items()
            ],
        )
        if measured
        else "Not measured (an older results file, or the hash chain not available)."
    )
    s["chain_table"] = (
        md_table(["workload", "chain on / chain off"], chain_rows) if chain_rows else "n/a (hash chain not available)"
    )
    bulk = results.get("bulk", {})
    if bulk:
        plain = median(r["seconds"] for r in bulk["plain"])
        s["bulk_table"] = md_table(
            ["variant", "seconds (median)", "runs", "vs unaudited"],
            [
                [
                    VARIANT_LABELS[v],
                    "%.2f" % median(r["seconds"] for r in bulk[v]),
                    " / ".join("%.2f" % r["seconds"] for r in bulk[v]),
                    fmt_ratio(ratio(median(r["seconds"] for r in bulk[v]), plain)),
                ]
                for v in ("plain", "seed", "row", "first", "statement", "statement_first", "to_jsonb")
                if v in bulk
            ],
        )
    else:
        s["bulk_table"] = "Not measured."
    size = results.get("bytes", {})
    s["bytes_table"] = (
        md_table(
            [
                "variant",
                "changes logged",
                "table B/change",
                "indexes B/change",
                "chain_block B/change",
                "total B/change",
                "vs seed",
            ],
            [
                [
                    VARIANT_LABELS[v],
                    size[v]["changes"],
                    "%.0f" % size[v]["table"],
                    "%.0f" % size[v]["indexes"],
                    "%.0f" % size[v].get("chain", 0),
                    "%.0f" % size[v]["total"],
                    fmt_ratio(ratio(size[v]["total"], size["seed"]["total"])),
                ]
                for v in ("seed", "row", "chain", "first", "statement")
                if v in size
            ],
        )
        if size
        else "Not measured."
    )
    profile = results.get("profile", {})
    if profile:
        base = median(r["cpu_us"] for r in profile.get("row", []))
        rows = []
        for key, label, _change in PROFILE:
            if key not in profile:
                continue
            cpu = median(r["cpu_us"] for r in profile[key])
            rows.append(
                [
                    label,
                    "%.0f" % cpu if cpu else "n/a",
                    " / ".join("%.0f" % r["cpu_us"] for r in profile[key] if r["cpu_us"]),
                    "%+.0f" % (cpu - base) if cpu and base else "n/a",
                    "%.0f" % median(r["tps"] for r in profile[key]),
                ]
            )
        s["profile_table"] = md_table(
            [
                "row trigger variant",
                "container CPU per UPDATE (us, median)",
                "runs",
                "vs as shipped (us)",
                "tps (median)",
            ],
            rows,
        )
    else:
        s["profile_table"] = "Not measured (--skip-profile)."
    fleet = results.get("fleet", {})
    if fleet:
        rows, slow = [], []
        for count, tools in sorted(fleet.items(), key=lambda kv: int(kv[0])):
            for tool, label in (("site", "playbooks/site.yml"), ("peer", "benchmarks/peer/site.yml")):
                for key, run_label in (
                    ("first", "first converge"),
                    ("noop", "re-run"),
                ):
                    r = tools[tool].get(key)
                    if not r:
                        continue
                    peer = tools["peer"][key]["seconds"]
                    rows.append(
                        [
                            count,
                            label,
                            run_label,
                            "%.1f" % r["seconds"],
                            fmt_ratio(r["seconds"] / peer) if tool == "site" else "",
                            r["tasks"],
                            r["calls"],
                            r["changed_per_host"],
                        ]
                    )
            biggest = sorted(fleet.items(), key=lambda kv: int(kv[0]))[-1]
        for tool in ("site", "peer"):
            r = biggest[1][tool].get("noop") or biggest[1][tool]["first"]
            slow.append(
                "- %s, re-run on %s host(s): %s"
                % (
                    "playbooks/site.yml" if tool == "site" else "benchmarks/peer/site.yml",
                    biggest[0],
                    "; ".join("%s %.1f s" % (name, seconds) for name, seconds in r["slowest"]),
                )
            )
        s["fleet_table"] = md_table(
            [
                "hosts",
                "playbook",
                "run",
                "wall s",
                "vs peer",
                "tasks per host",
                "module runs per host",
                "changed per host",
            ],
            rows,
        )
        s["fleet_slowest"] = "\n".join(slow)
    else:
        s["fleet_table"] = "Not measured (--skip-fleet)."
        s["fleet_slowest"] = ""
    cores = results.get("machine", {}).get("cores")
    s["steady_table"], s["steady_why"] = steady_sections(results.get("steady"), cores)
    s["steady_sudo_table"], s["steady_sudo_why"] = steady_sections(results.get("steady_sudo"), cores)
    # A section measured again on its own and merged into this run's results says so.
    later = results.get("steady_params")
    if later:
        s["steady_why"] += "\n\nThis section comes from a later run of its own: `%s` on %s (load average %s)." % (
            later["command"],
            later["date"],
            later["load"],
        )
    targets = evaluate(results)
    for key, _text in TARGETS:
        found = targets.get(key)
        s["target_" + key] = "**%s**: %s" % (verdict(found), found["detail"] if found else "not measured")
    s["targets_table"] = md_table(
        ["target", "result", "measured"],
        [
            [text, verdict(targets.get(key)), targets[key]["detail"] if key in targets else "not measured"]
            for key, text in TARGETS
        ],
    )
    return s


def machine_load(machine):
    """The load averages (1, 5, 15 minutes, as uptime prints them) at the start and the end."""
    loads = machine.get("load") or []
    if not loads:
        return "not recorded"
    return ", then ".join("%.2f, %.2f, %.2f" % tuple(x) for x in loads[:1] + loads[1:][-1:]) + (
        " (start, end of the database sections; %s cores)" % machine.get("cores", "?")
    )


def percent(share):
    """A share of 1 as people read it: "9%", "0.3%" (pure)."""
    return "%.0f%%" % (100 * share) if share >= 0.01 else "%.1f%%" % (100 * share)


def steady_sections(steady, cores):
    """(table, why) of section 5: each size's wall time and where its CPU went (pure)."""
    if not steady:
        return "Not measured (--sections without steady).", ""
    sizes = sorted(steady.items(), key=lambda kv: int(kv[0]))

    def cpu_cell(figures, part):
        value = (figures.get("cpu") or {}).get(part)
        return "n/a" if value is None else "%.1f" % value

    table = md_table(
        [
            "hosts",
            "wall s",
            "ratio to 1 host",
            "CPU s: controller",
            "CPU s: Docker daemon",
            "CPU s: hosts",
            "cores busy",
        ],
        [
            [count, "%.1f" % f["seconds"], fmt_ratio(f["ratio"])]
            + [cpu_cell(f, part) for part in CPU_PARTS]
            + ["n/a" if f.get("busy") is None else "%.0f%%" % (100 * f["busy"])]
            for count, f in sizes
        ],
    )
    (one, first), (most, last) = (sizes[0][0], sizes[0][1]), (sizes[-1][0], sizes[-1][1])
    extra = int(most) - int(one)
    if extra <= 0 or not first.get("cpu") or not last.get("cpu") or None in last["cpu"].values():
        return table, ""
    added = dict((part, (last["cpu"][part] - first["cpu"][part]) / extra) for part in CPU_PARTS)
    why = (
        "Each host beyond the first added %.1f s of wall time and %.1f s of CPU: %.1f s on the controller, "
        "%.1f s in the Docker daemon that relays each `docker exec`, %.1f s on the host itself. "
        % (
            (last["seconds"] - first["seconds"]) / extra,
            sum(added.values()),
            added["controller"],
            added["docker"],
            added["hosts"],
        )
    )
    if last.get("idle_cores_per_host") is not None:
        idle = last["idle_cores_per_host"]
        why += (
            "Of the hosts' CPU, %.1f s on %s hosts is what they burn anyway over the run's %.1f s (an idle host "
            "uses %s of a core here: its sealers, PostgreSQL's background), so it grows with "
            "the wall time as well as with the hosts. "
            % (idle * int(most) * last["seconds"], most, last["seconds"], percent(idle))
        )
    busy = last.get("busy")
    if busy is not None:
        why += "On %s hosts the run kept %.0f%% of the machine's %s cores busy: " % (most, 100 * busy, cores or "?")
        if busy >= 0.75:
            why += "the hosts' steps already run at once, and the wall time grows with the CPU each host costs."
        elif busy < 0.5:
            why += "the time goes to waiting, not to work."
        else:
            why += "part of the time is CPU each host costs, part waiting."
    return table, why


def render_markdown(results, template_path, chart_name):
    m = results["machine"]
    p = results["params"]
    values = dict(
        date=p["date"],
        command=p["command"],
        duration="%.0f" % (p.get("duration", 0) / 60.0),
        cores=m["cores"],
        cpu=m["cpu"] or "unknown",
        memory=m["memory_gib"],
        kernel=m["kernel"],
        load=machine_load(m),
        postgresql=m["postgresql"],
        image=m["image"],
        settings=m["settings"],
        rows=p["rows"],
        seconds=p["seconds"],
        repeats=p["repeats"],
        clients=", ".join(str(c) for c in p["clients"]),
        fleet_hosts=", ".join(str(c) for c in p["fleet_hosts"]) or "none",
        chain="yes" if p["chain"] else "no (the module has no hash_chain option: the chain rows say n/a)",
        chart=chart_name,
        ratio_table="```\n%s\n```" % text_table(results),
    )
    values.update(markdown_sections(results))
    return string.Template(Path(template_path).read_text()).substitute(values)


def render_chart(results, path):
    """A PNG of the ratios, one panel per comparison, with the targets drawn in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tps = write_medians(results)
    targets = evaluate(results)
    fig, axes = plt.subplots(2, 2, figsize=(14, 9.5))
    fig.suptitle(
        "pgtrail.audit benchmarks, PostgreSQL %s, %s (medians of %s runs)"
        % (results["machine"]["postgresql"], results["params"]["date"], results["params"]["repeats"]),
        fontsize=13,
    )
    colors = {
        "row": "#1f77b4",
        "chain": "#9467bd",
        "first": "#2ca02c",
        "plain": "#7f7f7f",
        "seed": "#ff7f0e",
        "statement": "#17becf",
        "statement_first": "#98df8a",
        "to_jsonb": "#c7c7c7",
    }

    ax = axes[0][0]
    columns = [(op, c) for op in OPS for c in sorted(tps.get(op, {}), key=int)]
    variants = [v for v in ("row", "chain", "first") if any(v in tps[op][c] for op, c in columns)]
    width = 0.8 / max(1, len(variants))
    top = 1.0
    for i, variant in enumerate(variants):
        values = [ratio(tps[op][c].get(variant), tps[op][c].get("seed")) or 0 for op, c in columns]
        top = max([top] + values)
        xs = [j + (i - (len(variants) - 1) / 2.0) * width for j in range(len(columns))]
        bars = ax.bar(xs, values, width, label=CHART_LABELS[variant], color=colors[variant])
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(1.0, color="#d62728", linestyle="--", linewidth=1, label="target: 1.0x")
    ax.set_ylim(0, top * 1.45)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(["%s\n%s client(s)" % (op.upper(), c) for op, c in columns], fontsize=8)
    ax.set_ylabel("throughput / seed trigger's")
    ax.set_title("1. Single-row writes (higher is better)")
    ax.legend(fontsize=7, loc="upper left", ncol=2)

    ax = axes[0][1]
    bulk = results.get("bulk", {})
    if bulk:
        plain = median(r["seconds"] for r in bulk["plain"])
        names = [v for v in ("seed", "row", "first", "statement", "statement_first", "to_jsonb") if v in bulk]
        values = [median(r["seconds"] for r in bulk[v]) / plain for v in names]
        bars = ax.barh([CHART_LABELS[v] for v in names], values, color=[colors[v] for v in names])
        ax.bar_label(bars, fmt="%.2fx", fontsize=8)
        ax.axvline(2.0, color="#d62728", linestyle="--", linewidth=1, label="target: 2.0x")
        ax.set_xlim(0, max(values + [2.0]) * 1.2)
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("time / unaudited time")
    ax.set_title("2. One UPDATE of every row (lower is better)")

    ax = axes[1][0]
    size = results.get("bytes", {})
    if size:
        names = [v for v in ("seed", "row", "chain", "first", "statement") if v in size]
        tables = [size[v]["table"] for v in names]
        indexes = [size[v]["indexes"] for v in names]
        labels = [CHART_LABELS[v] for v in names]
        ax.barh(labels, tables, color="#aec7e8", label="table")
        bars = ax.barh(labels, indexes, left=tables, color="#1f77b4", label="indexes")
        ax.bar_label(
            bars,
            labels=["%.0f B (%.2fx)" % (size[v]["total"], size[v]["total"] / size["seed"]["total"]) for v in names],
            fontsize=8,
        )
        ax.legend(fontsize=7, loc="lower right")
        ax.set_xlim(0, max(size[v]["total"] for v in names) * 1.35)
    ax.set_xlabel("bytes of log per audited change")
    ax.set_title("3. Log size per change")

    ax = axes[1][1]
    fleet = results.get("fleet", {})
    if fleet:
        counts = sorted(fleet, key=int)
        series = [
            ("noop", "re-run", "#1f77b4"),
            ("first", "first converge", "#7f7f7f"),
        ]
        series = [x for x in series if any(x[0] in fleet[c]["site"] for c in counts)]
        width = 0.8 / len(series)
        top = 0.5
        for i, (key, label, color) in enumerate(series):
            values = []
            for c in counts:
                s = fleet[c]["site"].get(key)
                peer = fleet[c]["peer"].get("first" if key == "first" else "noop")
                values.append(s["seconds"] / peer["seconds"] if s and peer else 0)
            top = max([top] + values)
            xs = [j + (i - (len(series) - 1) / 2.0) * width for j in range(len(counts))]
            bars = ax.bar(xs, values, width, label=label, color=color)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.axhline(0.5, color="#d62728", linestyle="--", linewidth=1, label="target for the re-run: 0.5x")
        ax.set_ylim(0, top * 1.6)
        ax.set_xticks(range(len(counts)))
        ax.set_xticklabels(["%s host(s)" % c for c in counts])
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.set_ylabel("wall time / peer playbook's")
    ax.set_title("4. Fleet converge (lower is better)")

    summary = "   ".join("%s: %s" % (CHART_NAMES[key], verdict(targets.get(key))) for key, _text in TARGETS)
    fig.text(0.5, 0.01, "targets:  " + summary, ha="center", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_results(results, out_dir):
    """The raw results, written as soon as a part is done (--render draws from them)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return out


def write_outputs(results, out_dir):
    out = save_results(results, out_dir)
    chart = out / "benchmarks-ratios.png"
    render_chart(results, chart)
    (out / "benchmarks.md").write_text(render_markdown(results, HERE / "template.md", chart.name))
    return out


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def number_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=100000, help="rows of the audited table (default 100000)")
    parser.add_argument("--seconds", type=int, default=8, help="seconds per pgbench run (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant; the median is reported (default 3)")
    parser.add_argument("--clients", type=number_list, default=[1, 8], help="pgbench client counts (default 1,8)")
    parser.add_argument("--fleet-hosts", type=number_list, default=[1, 2, 3], help="fleet sizes (default 1,2,3)")
    parser.add_argument("--skip-fleet", action="store_true", help="no fleet benchmark")
    parser.add_argument("--steady-hosts", type=number_list, default=[1, 3, 6], help="steady-path sizes (default 1,3,6)")
    parser.add_argument("--skip-profile", action="store_true", help="no profile of the row trigger")
    parser.add_argument("--profile-transactions", type=int, default=12000, help="UPDATEs per profile run")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one host, a temporary output directory")
    parser.add_argument("--output", help="directory for benchmarks.md, the PNG and benchmarks.json (default docs/)")
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only render the outputs again from a results file")
    parser.add_argument("--keep", action="store_true", help="keep the database container afterwards")
    parser.add_argument(
        "--sections",
        type=lambda text: [x.strip() for x in text.split(",") if x.strip()],
        default=["writes", "bulk", "bytes", "profile", "fleet", "steady", "vault"],
        help="run only these of writes,bulk,bytes,profile,fleet,steady,vault (default: all)",
    )
    args = parser.parse_args(argv)
    if "fleet" not in args.sections:
        args.skip_fleet = True
    if "steady" not in args.sections:
        args.steady_hosts = []
    if args.smoke:
        args.rows, args.seconds, args.repeats = 2000, 1, 1
        args.clients, args.fleet_hosts, args.profile_transactions = [1], [1], 100
        args.steady_hosts = [1, 2] if args.steady_hosts else []
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.render:
        results = json.loads(Path(args.render).read_text())
        out = write_outputs(results, args.output or Path(args.render).parent)
        print(text_table(results))
        say("rendered %s" % out)
        return 0
    out_dir = args.output or (tempfile.mkdtemp(prefix="pgtrail-bench-smoke-") if args.smoke else str(ROOT / "docs"))
    started = time.monotonic()
    chain = "hash_chain" in module_options("pgtrail.audit.audit_trail")
    if not chain:
        say("the audit_trail module has no hash_chain option: the chain rows will say n/a")
    params = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command="benchmarks/run" + ("" if not argv else " " + " ".join(argv)),
        rows=args.rows,
        seconds=args.seconds,
        repeats=args.repeats,
        clients=args.clients,
        fleet_hosts=[] if args.skip_fleet else args.fleet_hosts,
        steady_hosts=args.steady_hosts,
        chain=chain,
        smoke=args.smoke,
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        fleet = None
        if not args.skip_fleet and args.smoke:
            fleet = pool.submit(fleet_benchmarks, args)
        results = database_benchmarks(args, chain)
        results["params"] = params
        save_results(results, out_dir)
        if fleet is not None:
            results["fleet"] = fleet.result()
    if not args.skip_fleet and not args.smoke:
        results["fleet"] = fleet_benchmarks(args)
    if args.steady_hosts:
        # Alone on the machine: the ratios are what each more host costs, not the neighbours.
        steady = steady_benchmark(args)
        results["steady"], results["steady_sudo"] = steady["su"], steady["sudo"]
    if "vault" in args.sections:
        import vault  # benchmarks/vault.py, which uses this file's helpers

        results["vault"] = vault.vault_benchmark(args)
    params["duration"] = time.monotonic() - started
    out = write_outputs(results, out_dir)
    print(text_table(results))
    if "vault" in results:
        print("\n".join(vault.text_lines(results["vault"])))
    say("wrote %s (benchmarks.md, benchmarks-ratios.png, benchmarks.json) in %.0f s" % (out, params["duration"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
