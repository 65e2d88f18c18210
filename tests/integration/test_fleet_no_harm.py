"""The fleet roles do no harm (issue 12 sections 2-4): no check endangers the running server,
every file written, backed up or restored keeps owner, group and mode, and no host is left half
changed.

Failures are injected from outside the collection, honestly: a library truncated or changed on
disk, a configuration file owned by someone else, a server setting, or a watcher started in
the container (``docker exec -d``) that makes the next step's precondition false at the moment
the step before it has changed the host (a file appears or changes, the postmaster restarts, an
extension is created). Nothing in the collection knows about them.
"""

from testbed import docker, run_playbook

SCOPE = {
    "pgaudit_log": ["write", "ddl"],
    "pgaudit_databases": {"ledger": {"log": ["read", "write"]}},
    "pgaudit_roles": {"teller": {"log": "none", "database": "ledger"}},
    # Auditing off for teller in ledger, on purpose (fleet-inputs: an explicit opt-in).
    "pgaudit_log_off_allowed": ["role:teller"],
}


def paths(host):
    m = host.major
    return dict(
        conf_dir="/etc/postgresql/%d/main" % m,
        main="/etc/postgresql/%d/main/postgresql.conf" % m,
        conf_d="/etc/postgresql/%d/main/conf.d" % m,
        data="/var/lib/postgresql/%d/main" % m,
        auto="/var/lib/postgresql/%d/main/postgresql.auto.conf" % m,
        lib="/usr/lib/postgresql/%d/lib" % m,
        pgaudit="/usr/lib/postgresql/%d/lib/pgaudit.so" % m,
        log="/var/log/postgresql/postgresql-%d-main.log" % m,
    )


def files_state(host):
    """Every configuration file with its owner, group, mode and bytes (conf.d and auto.conf too),
    but not the backups the preload step leaves beside them."""
    p = paths(host)
    return host.sh(
        "for f in $(find %s -type f ! -name '*.pgtrail-*' | sort) %s;"
        " do stat -c '%%n %%U:%%G %%a' $f; md5sum < $f; done" % (p["conf_dir"], p["auto"])
    ).stdout


def attributes(host, path):
    return host.sh("stat -c '%%U:%%G %%a' %s" % path).stdout.strip()


def started_at(host):
    return host.psql("SELECT pg_postmaster_start_time()")


def package_installed(host):
    return host.sh("dpkg -s postgresql-%d-pgaudit" % host.major, check=False).returncode == 0


def watch(host, condition, action, every=0.05):
    """Run ``action`` in the container (as root) once the shell ``condition`` holds."""
    docker("exec", "-d", host.name, "sh", "-c", "until %s; do sleep %s; done; %s" % (condition, every, action))


def wait_for(host, query, expected, db="postgres"):
    for _attempt in range(100):
        if host.psql(query, db=db) == expected:
            return
        host.sh("sleep 0.1")
    raise AssertionError("%s never returned %s" % (query, expected))


def estate(host):
    host.psql("CREATE DATABASE ledger")
    host.psql("CREATE ROLE teller LOGIN")


# Section 2: no check endangers the running server ----------------------------------------

# (case, how the library is broken, what the refusal says). The packaged file is broken in
# place (the package check sees it); the others are unpackaged files beside it.
LIBRARIES = [
    # The input: with this package's 34 KB library, -s 100K pads it (the package sees it).
    ("packaged-truncate-100K", "pgaudit", "truncate -s 100K {pgaudit}", "differ from package"),
    ("packaged-cut", "pgaudit", "truncate -s 20K {pgaudit}", "truncated"),
    ("packaged-one-byte", "pgaudit", "printf 'X' | dd of={pgaudit} bs=1 seek=5000 conv=notrunc", "differ from package"),
    ("garbage", "broken", "echo garbage > {lib}/broken.so", "no ELF header"),
    ("not-a-module", "broken", "cp /usr/lib/x86_64-linux-gnu/libpq.so.5 {lib}/broken.so", "Pg_magic_func"),
    (
        "other-major",
        "broken",
        # The module magic block says 1600: a library built for PostgreSQL 16.
        "python3 -c \"import struct,sys; d=open('{pgaudit}','rb').read();"
        " d=d.replace(struct.pack('<iiii',1700,100,32,64),struct.pack('<iiii',1600,100,32,64));"
        " open('{lib}/broken.so','wb').write(d)\"",
        "built for PostgreSQL 16",
    ),
]


def test_a_broken_library_is_refused_from_its_file_and_the_running_server_is_not_touched(fresh_hosts):
    (host,) = fresh_hosts(17)
    p = paths(host)
    host.sh("apt-get install -y -qq postgresql-17-pgaudit >/dev/null && cp %s /root/pgaudit.so.orig" % p["pgaudit"])
    # A session that a crash of any backend (SIGBUS, then the postmaster's restart) would end.
    docker(
        "exec",
        "-d",
        "-u",
        "postgres",
        host.name,
        "psql",
        "-Xc",
        "SET application_name = survivor; SELECT pg_sleep(600)",
    )
    survivors = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'survivor'"
    wait_for(host, survivors, "1")
    before, start = files_state(host), started_at(host)

    outcomes = {}
    for case, library, breaks, _problem in LIBRARIES:
        host.sh(breaks.format(**p))
        # Check mode too where the issue saw the crash (the packaged library); the rest, for
        # CI time, in the real mode only (the check is the same code).
        modes = (True, False) if library == "pgaudit" else (False,)
        outcomes[case] = [host.module("preload", {"libraries": [library]}, check_mode=check) for check in modes]
        host.sh("cp /root/pgaudit.so.orig %s && rm -f %s/broken.so" % (p["pgaudit"], p["lib"]))

    for case, library, _breaks, problem in LIBRARIES:
        for result in outcomes[case]:
            assert result["failed"], (case, result)
            assert "%r" % library in result["msg"] and problem in result["msg"], (case, result["msg"])
            assert "nothing was changed" in result["msg"]
            assert not any(q.startswith("LOAD") for q in result.get("executed_queries", [])), case
    assert files_state(host) == before
    assert started_at(host) == start
    assert host.psql(survivors) == "1"
    assert host.sh("grep -c 'terminated by signal' %s" % p["log"], check=False).stdout.strip() == "0"
    # The library, intact again, is accepted; so is a sound library that no package owns.
    assert not host.module("preload", {"libraries": ["pgaudit"]}, check_mode=True)["failed"]
    host.sh("cp %s %s/unpackaged.so" % (p["pgaudit"], p["lib"]))
    unpackaged = host.module("preload", {"libraries": ["unpackaged"]}, check_mode=True)
    assert not unpackaged["failed"], unpackaged["msg"]


# Section 3: files keep owner, group and mode ----------------------------------------------

# (owner:group mode, whether postgres, the role's user, can write it keeping them)
OWNERS = [("postgres:postgres", "644", True), ("postgres:root", "640", False), ("root:root", "644", False)]


def test_edits_and_backups_keep_owner_group_and_mode_or_are_refused_first(fresh_hosts):
    (host,) = fresh_hosts(17)
    p = paths(host)
    host.sh("apt-get install -y -qq postgresql-17-pgaudit >/dev/null")
    offline = dict(config_file=p["main"], data_directory=p["data"], pkglibdir=p["lib"], libraries=["pgaudit"])

    for target in (p["main"], p["conf_d"] + "/preload.conf"):
        # Appended to postgresql.conf, this line comes after its include_dir and wins.
        host.sh("echo \"shared_preload_libraries = ''\" >> %s" % target)
        for owner, mode, postgres_can in OWNERS:
            host.sh("chown %s %s && chmod %s %s" % (owner, target, mode, target))
            before = files_state(host)
            as_postgres = host.module("preload", {"libraries": ["pgaudit"]})
            if postgres_can:
                assert not as_postgres["failed"], as_postgres["msg"]
                assert as_postgres["source"]["file"] == target
                edited = as_postgres
            else:
                # Refused before anything is written, the backup included.
                assert as_postgres["failed"]
                assert target in as_postgres["msg"] and owner in as_postgres["msg"]
                assert files_state(host) == before
                # Root keeps them (offline: root has no peer login to the server).
                host.sh("systemctl stop postgresql@17-main")
                try:
                    edited = host.module("preload", offline, become_user=None)
                finally:
                    host.sh("systemctl start postgresql@17-main")
                assert not edited["failed"], edited["msg"]
            for path in (target, edited["backup_file"]):
                assert attributes(host, path) == "%s %s" % (owner, mode), (target, owner, path)
            host.sh("sed -i \"s/^shared_preload_libraries = .*/shared_preload_libraries = ''/\" %s" % target)
        host.sh("sed -i '/^shared_preload_libraries/d' %s" % target)


# Sections 2, 3 and 4: a failure after each changing step of the role ----------------------

# Each host gets one failure, injected right after one changing step; all run in one site.yml
# run, in one batch. (major, failure, what the message must name, whether the configuration is
# put back as it was)
STEPS = {
    "after-install": (15, "the preload step refuses the library", "installed postgresql-15-pgaudit", True),
    "after-preload": (17, "the system step's ALTER SYSTEM fails", "(put back)", True),
    "after-system": (15, "the restart fails", "did not come back", True),
    "after-restart": (17, "CREATE EXTENSION fails", "restarted postgresql@17-main", False),
    "after-extension": (15, "ALTER ROLE fails", "created or updated the pgaudit extension in", False),
}


def inject(step, host):
    p = paths(host)
    if step == "after-install":
        watch(host, "[ -e %s ]" % p["pgaudit"], "truncate -s 10K %s" % p["pgaudit"])
    elif step == "after-preload":
        # The edited file is in an include_dir, postgres:postgres 0600.
        target = p["conf_d"] + "/preload.conf"
        host.sh(
            "echo \"shared_preload_libraries = ''\" > %s && chown postgres:postgres %s && chmod 600 %s"
            % (target, target, target)
        )
        # ALTER SYSTEM writes postgresql.auto.conf.tmp first: a directory there makes it fail.
        watch(host, "grep -q pgaudit %s" % target, "mkdir %s/postgresql.auto.conf.tmp" % p["data"])
    elif step == "after-system":
        pass  # huge_pages = on (host_vars): valid, but this machine has no huge pages
    elif step == "after-restart":
        pid = "%s/postmaster.pid" % p["data"]
        old = host.sh("head -1 %s" % pid).stdout.strip()
        watch(
            host,
            '[ -s %s ] && [ "$(head -1 %s)" != %s ] && [ -e /usr/share/postgresql/17/extension/pgaudit.control ]'
            % (pid, pid, old),
            "mv /usr/share/postgresql/17/extension/pgaudit.control /root/",
        )
    elif step == "after-extension":
        has_extension = (
            'su postgres -c "psql -XAt -d ledger -c \\"SELECT 1 FROM pg_extension WHERE extname = \'pgaudit\'\\""'
            " 2>/dev/null | grep -q 1"
        )
        watch(host, has_extension, "su postgres -c \"psql -Xqc 'DROP ROLE teller'\"", every=0.2)


def test_a_failure_after_any_changing_step_puts_back_the_configuration_or_lists_what_changed(fresh_hosts):
    names = sorted(STEPS)
    hosts = dict(zip(names, fresh_hosts(*(STEPS[name][0] for name in names))))
    before = {}
    for step, host in hosts.items():
        estate(host)
        inject(step, host)
        before[step] = (files_state(host), started_at(host))

    run = run_playbook(
        "site.yml",
        list(hosts.values()),
        group_vars=SCOPE,
        host_vars={hosts["after-system"].name: {"pgaudit_server_settings": {"huge_pages": "on"}}},
        extra_vars={"pgtrail_serial": len(hosts), "pgtrail_max_fail_percentage": 100},
    )

    assert run.rc != 0
    for step, host in hosts.items():
        _major, _failure, named, put_back = STEPS[step]
        message = run.failure(host.name)
        assert message and named in message, (step, message)
        assert host.sh("pg_isready -q", check=False).returncode == 0, step
        host.sh("rm -rf %s/postgresql.auto.conf.tmp" % paths(host)["data"])
        if put_back:
            # Byte for byte, with owner, group and mode: the server runs as before.
            assert files_state(host) == before[step][0], step
            assert "pgaudit" not in host.psql("SHOW shared_preload_libraries"), step
        else:
            assert "pgaudit" in host.psql("SHOW shared_preload_libraries"), step
            assert "(put back)" not in message, step
    # Only the restart that failed restarted anything before the failure.
    for step in ("after-install", "after-preload"):
        assert started_at(hosts[step]) == before[step][1], step
    # The server's own reason, not only systemd's text.
    assert "FATAL:" in run.failure(hosts["after-system"].name)
    assert "could not map anonymous shared memory" in run.failure(hosts["after-system"].name)


def test_what_can_be_known_before_a_change_stops_every_host_before_the_first_change(fresh_hosts):
    alter_system_off, root_owned = fresh_hosts(17, 15)
    # The input: PostgreSQL 17 with ALTER SYSTEM disabled.
    alter_system_off.sh("echo 'allow_alter_system = off' > %s/no-alter-system.conf" % paths(alter_system_off)["conf_d"])
    alter_system_off.psql("SELECT pg_reload_conf()")
    # The file that sets shared_preload_libraries belongs to root: postgres cannot edit it keeping that.
    target = paths(root_owned)["conf_d"] + "/preload.conf"
    root_owned.sh("echo \"shared_preload_libraries = ''\" > %s && chown root:root %s" % (target, target))
    hosts = (alter_system_off, root_owned)
    before = {h.name: (files_state(h), started_at(h)) for h in hosts}

    run = run_playbook("site.yml", list(hosts), group_vars={"pgaudit_log": ["write", "ddl"]})

    assert run.rc != 0
    assert "allow_alter_system = off" in run.failure(alter_system_off.name)
    assert target in run.failure(root_owned.name) and "root:root" in run.failure(root_owned.name)
    for host in hosts:
        assert (files_state(host), started_at(host)) == before[host.name]
        assert not package_installed(host)
        assert run.changed_tasks(host.name) == []
