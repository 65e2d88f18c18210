"""The trail on both ends of logical replication (PostgreSQL 15 publishing to 17), chain v2 on both.

Both nodes run the same inventory: a hash-chained, locked-down trail on public.orders, owned by
a role that is not a superuser. The subscriber's apply worker (replica mode, a security-restricted operation
since PostgreSQL 16) never stalls, the changes it applies are logged marked with their
subscription, and a FOR ALL TABLES publication, which carries the trail's own tables too, leaves
each node with its own log. audit_info lists publications and subscriptions and warns when the
log is published.
"""

import subprocess
import time
import uuid

import pytest
from pgaudit_testlib import succeeded
from testbed import docker, image_exists, start_host

# database -> the publication made there
PUBLICATIONS = {
    "shop_t": "CREATE PUBLICATION p_t FOR TABLE public.orders",
    "shop_all": "CREATE PUBLICATION p_all FOR ALL TABLES",
}
TRAIL = dict(tables=["public.orders"], hash_chain=True)


@pytest.fixture(scope="module")
def nodes(request):
    """A publisher (15) and a subscriber (17) sharing a socket directory, both with the trail."""
    for major in (15, 17):
        if not image_exists(major):
            pytest.skip("no PostgreSQL %d image" % major)
    volume = "pgtrail-logical-" + uuid.uuid4().hex[:8]
    subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
    hosts = []
    try:
        publisher = start_host(15, docker_args="-v %s:/shared" % volume)
        hosts.append(publisher)
        subscriber = start_host(17, docker_args="-v %s:/shared" % volume)
        hosts.append(subscriber)
        publisher.sh("install -d -o postgres -m 755 /shared/pub")
        publisher.sh("sed -i '1i local all postgres trust' /etc/postgresql/15/main/pg_hba.conf")
        publisher.sh(
            "printf \"wal_level = logical\\nunix_socket_directories = '/var/run/postgresql,/shared/pub'\\n\" "
            "> /etc/postgresql/15/main/conf.d/logical.conf && systemctl restart postgresql@15-main"
        )
        for host in (publisher, subscriber):
            # One database built by the module, the other a copy of it.
            host.psql("CREATE ROLE app_owner; CREATE DATABASE shop_t")
            host.psql("CREATE TABLE public.orders (id int PRIMARY KEY, item text); "
                      "ALTER TABLE public.orders OWNER TO app_owner", db="shop_t")  # fmt: skip
            succeeded(host.module("audit_trail", dict(TRAIL, database="shop_t")))
            succeeded(host.module("audit_lockdown", dict(database="shop_t", owner="audit_owner")))
            host.psql("CREATE DATABASE shop_all TEMPLATE shop_t")
        built = {}
        for db, statement in PUBLICATIONS.items():
            built[db] = int(subscriber.psql("SELECT coalesce(max(id), 0) FROM audit.audit_log", db=db))
            publisher.psql("INSERT INTO public.orders VALUES (1, 'before the subscription'); " + statement, db=db)
            subscriber.psql(
                "CREATE SUBSCRIPTION s_%s CONNECTION 'host=/shared/pub dbname=%s user=postgres' PUBLICATION %s"
                % (db, db, statement.split()[2]),
                db=db,
            )
            # The initial copy first (with the trail as it was, it never ends).
            for _attempt in range(60):
                if subscriber.psql("SELECT bool_and(srsubstate = 'r') FROM pg_subscription_rel", db=db) == "t":
                    break
                time.sleep(0.5)
            publisher.psql(
                "INSERT INTO public.orders VALUES (2, 'two'), (3, 'three'); UPDATE public.orders SET item = 'one' "
                "WHERE id = 1; DELETE FROM public.orders WHERE id = 3",
                db=db,
            )
        yield publisher, subscriber, built
    finally:
        for host in hosts:
            docker("rm", "-f", host.name, check=False)
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, check=False)


def rows(host, db, query):
    return host.psql(query, db=db).splitlines()


def wait_for_orders(publisher, subscriber, db):
    want = rows(publisher, db, "SELECT id || ':' || item FROM public.orders ORDER BY id")
    for _attempt in range(120):
        if rows(subscriber, db, "SELECT id || ':' || item FROM public.orders ORDER BY id") == want:
            return want
        time.sleep(0.5)
    errors = subscriber.sh("grep ERROR /var/log/postgresql/postgresql-17-main.log | tail -3", check=False).stdout
    raise AssertionError("the subscriber of %s never caught up (%s): %s" % (db, want, errors))


@pytest.mark.parametrize("db", sorted(PUBLICATIONS))
def test_the_subscriber_applies_every_change_and_logs_it_marked_with_its_subscription(nodes, db):
    publisher, subscriber, built = nodes
    assert wait_for_orders(publisher, subscriber, db) == ["1:one", "2:two"]
    assert subscriber.psql(
        "SELECT sum(apply_error_count + sync_error_count) FROM pg_stat_subscription_stats", db=db
    ) == ("0")
    # Every change applied (the initial copy, then the stream) is in the subscriber's own log,
    # marked with the subscription that applied it; nothing else of the publisher's log is.
    logged = rows(
        subscriber,
        db,
        "SELECT action || ':' || coalesce(new_data->>'id', old_data->>'id') || ':' || login_role || ':' "
        "|| (metadata->>'subscription') FROM audit.audit_log WHERE kind = 'row' ORDER BY id",
    )
    sub = "s_%s" % db
    assert logged == [
        "INSERT:1:postgres:" + sub,
        "INSERT:2:postgres:" + sub,
        "INSERT:3:postgres:" + sub,
        "UPDATE:1:postgres:" + sub,
        "DELETE:3:postgres:" + sub,
    ]
    assert subscriber.psql(
        "SELECT count(*) FROM audit.audit_log WHERE id > %d AND kind <> 'row'" % built[db], db=db
    ) == ("0")
    # The subscriber seals its own rows (their txids are its own: skip_applied kept the
    # publisher's rows and blocks out); both chains verify.
    result = succeeded(subscriber.module("chain_verify", dict(database=db)))
    assert result["ok"] is True and result["unsealed"] == 0 and result["sealed"] >= 5, result["reason"]
    assert result["checked"] == int(subscriber.psql("SELECT count(*) FROM audit.audit_log", db=db))
    published = succeeded(publisher.module("chain_verify", dict(database=db)))
    assert published["ok"] is True and published["unsealed"] == 0, published["reason"]
    assert published["head"]["origin"] != result["head"]["origin"]
    # The publisher's log holds its own rows only, unmarked.
    assert publisher.psql("SELECT count(*) FROM audit.audit_log WHERE metadata ? 'subscription'", db=db) == "0"
    # A second run of the module on the subscriber has nothing to change.
    again = succeeded(subscriber.module("audit_trail", dict(TRAIL, database=db)))
    assert again["changed"] is False, again["executed_queries"]


def test_audit_info_lists_publications_and_subscriptions_and_warns_when_the_log_is_published(nodes):
    publisher, subscriber, _built = nodes
    facts = succeeded(publisher.module("audit_info", dict(databases=sorted(PUBLICATIONS), verify_chain=False)))
    published = facts["replication"]["databases"]
    assert published["shop_t"]["publications"] == [dict(name="p_t", all_tables=False, trail_tables=[])]
    assert published["shop_t"]["warnings"] == []
    assert published["shop_all"]["publications"][0]["all_tables"] is True
    assert "audit.audit_log" in published["shop_all"]["publications"][0]["trail_tables"]
    assert published["shop_all"]["warnings"][0].startswith(
        "publication p_all publishes the audit log audit.audit_log (FOR ALL TABLES)"
    )
    assert any("p_all publishes the audit log" in w for w in facts.get("warnings", []))
    facts = succeeded(subscriber.module("audit_info", dict(databases=["shop_t"], verify_chain=False)))
    (subscription,) = facts["replication"]["databases"]["shop_t"]["subscriptions"]
    assert subscription["name"] == "s_shop_t" and subscription["publications"] == ["p_t"]
    assert subscription["enabled"] is True and subscription["apply_error_count"] == 0
    assert facts["replication"]["databases"]["shop_t"]["warnings"] == []
