"""The audit vault's targets (issue 15, docs/vault.md), measured in one run on two containers.

- overhead: single-row audited UPDATEs with pgbench at 8 clients on a source whose trail the vault
  subscribes to, with the subscription enabled (the source's WAL sender decodes and sends every
  log row) and disabled (no decoding: what the source costs without a vault), alternated, the
  median of each; target: the enabled run keeps at least 0.97x of the disabled one's rate.
- lag: the same UPDATEs at a fixed rate (pgbench --rate, 1,000 a second), the lag sampled every
  100 ms on the source (pg_stat_replication.replay_lag of the vault's WAL sender) and, per row,
  from the vault's copy (vault_received_at - changed_at: both containers read the same clock);
  target: p99 at most 1 s.

The vault is set up the way users get it: the collection's modules (audit_trail, vault_source,
vault_store) through Ansible's docker connection; the containers share a docker volume, in which
the source listens on a socket directory (the test bed has no network). Both containers share the
machine's cores: the vault's apply worker competes with the source's writers, which a real vault
on its own host does not.
"""

import concurrent.futures
import os
import re
import statistics
import subprocess
import time

import bench

SOURCE, VAULT = bench.PREFIX + "vault-source", bench.PREFIX + "vault"
DB = "ledger"
PASSWORD = "bench-vault"
STORE = "source/%s" % DB
SAMPLES = """
CREATE TEMP TABLE samples (lag double precision);
-- psql does not substitute inside the DO block's quotes: the count goes through a setting.
SET pgtrail_bench.samples = :samples;
DO $$
BEGIN
    FOR i IN 1 .. pg_catalog.current_setting('pgtrail_bench.samples')::int LOOP
        PERFORM pg_catalog.pg_sleep(0.1);
        INSERT INTO samples
        SELECT EXTRACT(epoch FROM r.replay_lag) FROM pg_catalog.pg_stat_replication AS r
         WHERE r.application_name = 'pgtrail_vault';
    END LOOP;
END
$$;
SELECT count(lag), percentile_disc(0.5) WITHIN GROUP (ORDER BY lag),
       percentile_disc(0.99) WITHIN GROUP (ORDER BY lag), max(lag)
  FROM samples;
"""
# Per row received during the run: its lag from the source's commit-time stamp to the vault.
ROW_LAG = """
SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY lag), percentile_disc(0.99) WITHIN GROUP (ORDER BY lag),
       max(lag)
  FROM (SELECT EXTRACT(epoch FROM vault_received_at - changed_at) AS lag FROM audit.audit_log
         WHERE id > :since) AS l
"""


def start():
    volume = bench.PREFIX + "vault-shared"
    bench.run(["docker", "volume", "create", volume])
    env = dict(os.environ, PGTRAIL_LABEL="bench", PGTRAIL_DOCKER_ARGS="-v %s:/shared" % volume)

    def one(name):
        bench.run([str(bench.ROOT / "scripts" / "testbed.sh"), "run", name, bench.SUITE, str(bench.MAJOR)], env=env)
        return bench.Container(name)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, (SOURCE, VAULT)))


def remove():
    bench.remove_containers([SOURCE, VAULT])
    bench.run(["docker", "volume", "rm", "-f", bench.PREFIX + "vault-shared"], check=False)


def set_up(source, vault, rows):
    """The source's trail, its vault login and publication, the vault's copy and subscription."""
    conf = "/etc/postgresql/%d/main/conf.d/vault.conf" % bench.MAJOR
    source.sh("install -d -o postgres -m 755 /shared/source")
    source.put(conf, "unix_socket_directories = '/var/run/postgresql,/shared/source'\nwal_level = logical\n")
    source.sh("sed -i '1i local all pgtrail_vault scram-sha-256' /etc/postgresql/%d/main/pg_hba.conf" % bench.MAJOR)
    source.sh("systemctl restart postgresql@%d-main && pg_isready -t 30 -q" % bench.MAJOR)
    for container in (source, vault):
        container.sh("apt-get install -y -qq python3-psycopg >/dev/null")
    source.psql("CREATE DATABASE %s;" % DB)
    source.put("/var/tmp/pgtrail-bench/update.sql", (bench.HERE / "pgbench" / "update.sql").read_text())
    source.psql((bench.HERE / "sql" / "accounts.sql").read_text(), DB, {"rows": rows})
    bench.trail_module(source, dict(database=DB, tables=["public.accounts"]))
    published = bench.trail_module(source, dict(databases=[DB], password=PASSWORD), name="vault_source")
    spec = published["databases"][DB]
    bench.trail_module(
        vault,
        dict(
            database=STORE,
            columns=spec["columns"],
            slot_name=spec["slot_name"],
            conninfo="host=/shared/source",
            source_database=DB,
            password=PASSWORD,
        ),
        name="vault_store",
    )
    source.psql("VACUUM ANALYZE;", DB)
    wait_caught_up(source, vault)


def wait_caught_up(source, vault, timeout=120):
    """Until the vault holds the source's last log row (the initial copy, or a run's tail)."""
    last = int(source.scalar("SELECT coalesce(max(id), 0) FROM audit.audit_log", DB))
    for _attempt in range(timeout * 5):
        if int(vault.scalar("SELECT coalesce(max(id), 0) FROM audit.audit_log", STORE)) >= last:
            return
        time.sleep(0.2)
    raise RuntimeError("the vault did not catch up with the source within %d s" % timeout)


def subscription(vault, enabled):
    vault.psql("ALTER SUBSCRIPTION pgtrail_vault %s;" % ("ENABLE" if enabled else "DISABLE"), STORE)


def pgbench(source, rows, clients, seconds, rate=None):
    cmd = "pgbench -n -M prepared -f /var/tmp/pgtrail-bench/update.sql -D rows=%d -c %d -j %d -T %d" % (
        rows,
        clients,
        min(clients, 2),
        seconds,
    )
    if rate:
        cmd += " --rate %d" % rate
    proc = source.sh("%s %s" % (cmd, DB), user="postgres", check=False)
    out = proc.stdout + proc.stderr
    tps = re.search(r"^tps = ([\d.]+)", out, re.M)
    if proc.returncode != 0 or not tps:
        raise RuntimeError("pgbench failed: %s" % out[-2000:])
    return float(tps.group(1))


def overhead(source, vault, rows, clients, seconds, repeats):
    """Median tps with the subscription disabled and enabled, alternated (order rotated).

    Beside each rate, the CPU of each container over the run (cgroup v2): the source's CPU per
    transaction (its backends, pgbench and, enabled, the WAL sender that decodes) and the cores the
    vault used meanwhile (its apply worker), which on this machine come out of the source's share.
    """
    runs, cpu = dict(off=[], on=[]), dict(off=[], on=[])
    for repeat in range(repeats):
        order = ("off", "on") if repeat % 2 == 0 else ("on", "off")
        for state in order:
            subscription(vault, state == "on")
            source.psql("CHECKPOINT;")
            before, started = (source.cpu_usec(), vault.cpu_usec()), time.monotonic()
            tps = pgbench(source, rows, clients, seconds)
            after, wall = (source.cpu_usec(), vault.cpu_usec()), time.monotonic() - started
            runs[state].append(tps)
            if None not in before + after:
                cpu[state].append(
                    dict(
                        source_us_per_tx=(after[0] - before[0]) / (tps * seconds),
                        vault_cores=(after[1] - before[1]) / 1e6 / wall,
                    )
                )
    subscription(vault, True)
    wait_caught_up(source, vault)
    return overhead_figures(clients, runs, cpu)


def overhead_figures(clients, runs, cpu):
    """The medians of overhead()'s runs (pure): the rate ratio, and with the CPU read the source's own.

    ``cpu_ratio`` is the source's CPU per transaction disabled / enabled: the rate the source would
    keep with its cores to itself, as a vault on its own host leaves them (an estimate from CPU, not a
    measured rate: it holds while the source's writes are bound by its cores).
    """
    off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
    out = dict(clients=clients, tps_without=off, tps_with=on, ratio=on / off, runs=runs)
    if cpu.get("off") and cpu.get("on"):
        per_tx = dict((state, statistics.median(c["source_us_per_tx"] for c in cpu[state])) for state in ("off", "on"))
        out.update(
            source_us_per_tx=per_tx,
            cpu_ratio=per_tx["off"] / per_tx["on"],
            vault_cores=statistics.median(c["vault_cores"] for c in cpu["on"]),
        )
    return out


def four(text):
    count, p50, p99, worst = (text.strip().split("|") + ["", "", "", ""])[:4]
    return dict(count=int(count or 0), p50=float(p50 or 0), p99=float(p99 or 0), max=float(worst or 0))


def lag(source, vault, rows, rate, seconds):
    """Lag at a fixed rate of audited UPDATEs: sampled on the source, and per row on the vault."""
    since = vault.scalar("SELECT coalesce(max(id), 0) FROM audit.audit_log", STORE)
    sampler = subprocess.Popen(
        ["docker", "exec", "-i", "-u", "postgres", SOURCE, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1"]
        + ["-v", "samples=%d" % (seconds * 10)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tps = pgbench(source, rows, 8, seconds, rate=rate)
    sampled, err = sampler.communicate(SAMPLES, timeout=seconds + 60)
    if sampler.returncode != 0:
        raise RuntimeError("the lag sampler failed: %s" % err)
    wait_caught_up(source, vault)
    per_row = vault.psql(ROW_LAG, STORE, {"since": since})
    return dict(rate=rate, tps=tps, seconds=seconds, sampled=four(sampled), rows=four(per_row))


def vault_benchmark(args):
    """The vault section: dict(overhead, lag), or the error that stopped it."""
    rows = min(args.rows, 100000)
    # A run of a second or less may end before 8 clients have connected on a busy machine.
    seconds = max(args.seconds, 2)
    rate = 100 if args.smoke else 1000
    repeats = 1 if args.smoke else max(args.repeats, 3)
    bench.say("vault: starting %s and %s (PostgreSQL %d on %s)" % (SOURCE, VAULT, bench.MAJOR, bench.SUITE))
    remove()
    try:
        source, vault = start()
        bench.say("vault: the trail, its publication and the vault's subscription (the collection's modules)")
        set_up(source, vault, rows)
        bench.say("vault: source write rate with and without the subscription, 8 clients")
        results = dict(overhead=overhead(source, vault, rows, 8, seconds, repeats))
        bench.say("vault: lag at %d audited writes a second" % rate)
        results["lag"] = lag(source, vault, rows, rate, seconds if args.smoke else max(seconds, 20))
        return results
    finally:
        if not args.keep:
            remove()


def text_lines(results):
    """The vault's lines of the run's text table."""
    if not results:
        return []
    over, late = results["overhead"], results["lag"]
    lines = [
        "vault: source write rate with / without the vault's subscription, 8 clients: %.0f / %.0f tps = %.3fx"
        " (target >= 0.97x)" % (over["tps_with"], over["tps_without"], over["ratio"]),
        "vault: lag at %d audited writes/s (%.0f reached): sampled p99 %.3f s (%d samples), per row p99 %.3f s,"
        " max %.3f s (target p99 <= 1 s)"
        % (
            late["rate"],
            late["tps"],
            late["sampled"]["p99"],
            late["sampled"]["count"],
            late["rows"]["p99"],
            late["rows"]["max"],
        ),
    ]
    if "cpu_ratio" in over:
        lines.append(
            "vault: the source's CPU per write without / with the subscription: %.0f / %.0f us = %.3fx; the vault's"
            " apply used %.2f of the shared cores meanwhile"
            % (over["source_us_per_tx"]["off"], over["source_us_per_tx"]["on"], over["cpu_ratio"], over["vault_cores"])
        )
    return lines
