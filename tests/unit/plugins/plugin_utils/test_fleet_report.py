"""The fleet report's data (plugin_utils.report)."""

from test_compliance import compliant

from ansible_collections.pgtrail.audit.plugins.plugin_utils import escape
from ansible_collections.pgtrail.audit.plugins.plugin_utils.compliance import evaluate
from ansible_collections.pgtrail.audit.plugins.plugin_utils.cost import BYTES_PER_CHANGE
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


# --- who is audited, who can switch auditing off (issue 16 §1 §4) ------------------------------


def settings(value):
    return {"pgaudit.log": value, "pgaudit.log_relation": "off"}


def with_policy(name="db1"):
    data = evidence()
    facts = data["facts"]
    facts["effective_policy"] = {
        "system": {"pgaudit.log": {"value": "ddl, role", "scope": "system", "via": "ALTER SYSTEM", "file": "/d/a",
                                   "line": 3}},
        "databases": ["app", "<b>x|y</b>"],
        "logins": [
            {"login": name, "database": db, "superuser": False, "settings": settings(value),
             "sources": {"pgaudit.log": source, "pgaudit.log_relation": "default"},
             "classes_dropped": dropped, "ignored": [], "not_inherited": [{"role": "dba", "settings": {}}]}
            for db, value, source, dropped in (("app", "none", "role", ["ddl", "role"]),
                                               ("<b>x|y</b>", "ddl, role", "system", []))
        ],
    }  # fmt: skip
    facts["can_switch_off"] = [
        {"role": name, "kind": "set_parameter", "via": ["tuners"], "database": None, "what": ["pgaudit.log"]}
    ]
    return data


def test_the_policy_is_a_login_by_database_table_with_the_weaker_cells_counted():
    host = fleet_model({"db1": with_policy("alice")})["hosts"][0]
    policy = host["policy"]
    assert policy["databases"] == ["app", "<b>x|y</b>"] and policy["weaker"] == 1
    assert policy["system"]["value"] == "ddl, role"
    [row] = policy["rows"]
    assert row["login"] == "alice" and [c["value"] for c in row["cells"]] == ["none", "ddl, role"]
    assert row["cells"][0] == dict(value="none", source="role", classes_dropped=["ddl", "role"], not_inherited=["dba"],
                                   ignored=[])  # fmt: skip
    assert host["can_switch_off"][0]["kind"] == "set_parameter"


def render(name, model):
    import jinja2

    root = __file__.rsplit("/tests/", 1)[0] + "/playbooks/templates"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root))
    env.filters["pgtrail.audit.md_escape"] = escape.markdown
    return env.get_template(name).render(pgtrail_fleet=model)


def test_the_policy_sections_render_names_from_the_hosts_as_data():
    model = fleet_model({"db1": with_policy("<script>alert(2)</script>")})
    html = render("fleet-policy.html.j2", model)
    assert "<script>" not in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "&lt;b&gt;x|y&lt;/b&gt;" in html and "drops ddl, role" in html and "may SET pgaudit parameters" in html
    markdown = render("fleet-policy.md.j2", model)
    assert "| \\<b\\>x\\|y\\</b\\> |" in markdown and "<b>" not in markdown
    assert "**none** (role; drops ddl, role); not from dba" in markdown
    assert "| may SET pgaudit parameters | tuners | - | pgaudit.log |" in markdown


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
    assert finance["bytes_per_change"] == BYTES_PER_CHANGE["chain"]  # the compliant host's finance log is hash-chained
    assert db2["seed_coverage"] == [] and db2["cost"] == []
    assert all(check["controls"] for check in model["checks"])
    assert "docs/benchmarks.md" in model["cost_source"]
