"""The fleet report's data (plugin_utils.report)."""

from test_compliance import compliant

from ansible_collections.pgtrail.audit.plugins.plugin_utils.compliance import evaluate
from ansible_collections.pgtrail.audit.plugins.plugin_utils.report import fleet_model


def evidence(drift=()):
    facts = dict(compliant(), server_version="17.12 (Debian)", invocation={"module_args": {}}, changed=False)
    facts["pgaudit"]["package"] = {"name": "postgresql-17-pgaudit", "version": "17.1-1", "manager": "dpkg"}
    return {"facts": facts, "checks": evaluate(facts), "drift": list(drift)}


DRIFT = {
    "scope": "database",
    "target": "finance",
    "setting": "pgaudit.log",
    "declared": "read, write",
    "actual": "none",
}


def test_every_host_gets_a_cell_per_check_and_an_unread_host_gets_unknown_with_the_reason():
    model = fleet_model({"db2": {"error": "Unable to connect"}, "db1": evidence()}, generated_at="now")
    assert [h["name"] for h in model["hosts"]] == ["db1", "db2"]
    assert len(model["matrix"]) == len(model["checks"]) == 22
    first = model["matrix"][0]
    assert first["check"]["id"] == "CIS-3.2"
    assert [c["status"] for c in first["cells"]] == ["pass", "unknown"]
    assert first["cells"][1]["reason"] == "Unable to connect"


def test_the_summary_counts_hosts_checks_and_drift():
    model = fleet_model({"db1": evidence(), "db2": evidence([DRIFT]), "db3": {}})
    summary = model["summary"]
    assert summary["hosts"] == 3 and summary["hosts_read"] == 2
    assert summary["hosts_with_drift"] == 1 and summary["drift"] == 1
    assert summary["hosts_compliant"] == 0  # CIS-3.1.25 fails on both (the password conflict)
    assert summary["totals"] == {"pass": 42, "fail": 2, "not_applicable": 0}
    unread = model["hosts"][2]
    assert unread["error"] == "no facts were gathered (host unreachable?)"


def test_host_rows_carry_versions_failing_checks_and_coverage_per_database():
    host = fleet_model({"db1": evidence()})["hosts"][0]
    assert host["server_version"] == "17.12 (Debian)" and host["pgaudit_package"] == "17.1-1"
    assert host["failing"] == ["CIS-3.1.25"]
    assert "invocation" not in host["facts"] and "changed" not in host["facts"]
    rows = {r["database"]: r for r in host["coverage"]}
    assert rows["finance"]["trail"] == "present" and rows["finance"]["triggers_ok"] is True
    assert rows["finance"]["chain"] == "ok" and rows["finance"]["chain_checked"] == 1200
    assert rows["finance"]["rewriters"] == []
    assert rows["postgres"]["trail"] == "no trail" and rows["postgres"]["chain"] == "off"


def test_each_host_has_the_seed_coverage_and_the_cost_and_each_check_its_controls():
    facts_evidence = evidence()
    facts_evidence["facts"]["write_rates"] = {
        "databases": {
            "finance": {
                "reset": True,
                "since": "2026-11-29T00:00:00Z",
                "seconds": 86400.0,
                "tables": [{"table": "public.payments", "inserts": 10, "updates": 0, "deletes": 0}],
            }
        }
    }
    model = fleet_model({"db1": facts_evidence, "db2": {"error": "Unable to connect"}})
    db1, db2 = model["hosts"]
    assert [c["id"] for c in db1["seed_coverage"]][:2] == ["seed-authentication", "seed-authorization"]
    (finance,) = db1["cost"]
    assert finance["tables"][0]["under_trail"] and finance["tables"][0]["changes_per_day"] == 10.0
    assert finance["bytes_per_change"] == 825  # the compliant host's finance log is hash-chained
    assert db2["seed_coverage"] == [] and db2["cost"] == []
    assert all(check["controls"] for check in model["checks"])
    assert "docs/benchmarks.md" in model["cost_source"]
