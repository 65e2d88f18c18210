"""Compliance checks over hand-written audit facts: every check passes on a compliant host and
fails, naming the reason, when one fact breaks it."""

import copy

import pytest

from ansible_collections.pgtrail.audit.plugins.plugin_utils import compliance
from ansible_collections.pgtrail.audit.plugins.plugin_utils.compliance import evaluate, summarize


def compliant():
    """Facts of a host that passes every check (the shape audit_info returns)."""
    return {
        "major": 17,
        "in_recovery": False,
        "shared_preload_libraries": ["pgaudit", "set_user"],
        "pending_restart": [],
        "preload": {
            "running": ["pgaudit", "set_user"],
            "staged": ["pgaudit", "set_user"],
            "restart_required": False,
            "pgaudit_running": True,
            "pgaudit_staged": True,
        },
        "pgaudit": {
            "loaded": True,
            "available_version": "17.1",
            "settings": {
                "pgaudit.log": "ddl, role, read, write",
                "pgaudit.log_catalog": "on",
                "pgaudit.log_level": "log",
                "pgaudit.log_parameter": "on",
                "pgaudit.log_statement_once": "off",
            },
            "system_log": "ddl, role, read, write",
            "extension_versions": {"finance": "17.1", "postgres": "17.1"},
        },
        "weakening": [],
        "logging": {
            "log_connections": "on",
            "log_disconnections": "on",
            "log_line_prefix": "%m [%p] %q%u@%d %a %h ",
            # CIS 3.1.25 and the password check cannot both pass: this host picks CIS.
            "log_statement": "none",
            "log_min_duration_statement": "-1",
            "log_timezone": "UTC",
            "overrides": [],
        },
        "set_user": {"available_version": "4.1.0", "preloaded": True, "databases": ["postgres"]},
        "trail": {
            "schema": "audit",
            "databases": {
                "postgres": {"status": "no trail"},
                "finance": {
                    "status": "present",
                    "audited": [
                        {
                            "table": "public.payments",
                            "present": True,
                            "missing_triggers": [],
                            "not_always": [],
                            "enable_always": True,
                        }
                    ],
                    "uncovered": [],
                    "event_triggers": {"pgtrail_audit_ddl": "A", "pgtrail_audit_drop": "A"},
                },
            },
        },
        "lockdown": {
            "superusers": ["postgres"],
            "parameter_grants": [],
            "databases": {
                "finance": {
                    "log_table": "audit.audit_log",
                    "owner": "postgres",
                    "writers": [{"role": "app_user", "privileges": ["INSERT"]}],
                }
            },
        },
        "hash_chain": {
            "enabled": True,
            "databases": {
                "postgres": {"enabled": False},
                "finance": {
                    "enabled": True,
                    "columns": ["prev_hash", "row_hash"],
                    "verifier": True,
                    "verify": {"ok": True, "checked": 1200, "broken_id": None, "head_id": 1200},
                },
            },
        },
    }


def result(facts, check_id):
    return next(r for r in evaluate(facts) if r["id"] == check_id)


def broken(change):
    facts = copy.deepcopy(compliant())
    change(facts)
    return facts


def test_a_compliant_host_passes_every_check_but_the_password_conflict_of_cis_3_1_25():
    results = evaluate(compliant())
    assert [r["id"] for r in results if r["status"] != "pass"] == ["CIS-3.1.25"]
    assert all(r["reason"] for r in results)


def test_results_have_the_documented_shape_and_a_fixed_order():
    results = evaluate(compliant())
    assert [r["id"] for r in results] == [c[0] for c in compliance.CHECKS]
    for r in results:
        assert set(r) == {"id", "title", "standard", "status", "reason", "controls"}
        assert r["standard"] in ("CIS", "STIG", "pgtrail")
        assert r["status"] in ("pass", "fail", "not_applicable")


def test_the_standards_are_selected_by_name():
    assert {r["standard"] for r in evaluate(compliant(), ["cis"])} == {"CIS"}
    assert {r["standard"] for r in evaluate(compliant(), ["STIG", "pgtrail"])} == {"STIG", "pgtrail"}
    assert len(evaluate(compliant(), ["all"])) == len(compliance.CHECKS)
    assert len(evaluate(compliant(), "cis")) == 7


def test_an_unknown_standard_is_named():
    with pytest.raises(ValueError, match="unknown compliance standard.*'hipaa'"):
        evaluate(compliant(), ["cis", "hipaa"])


def test_summarize_counts_each_status():
    assert summarize(evaluate(compliant())) == {"pass": 21, "fail": 1, "not_applicable": 0}


# --- CIS ------------------------------------------------------------------------------------


def test_cis_3_2_passes_with_ddl_and_write_and_names_the_value():
    r = result(compliant(), "CIS-3.2")
    assert r["status"] == "pass" and "'ddl, role, read, write'" in r["reason"]


def test_cis_3_2_fails_when_pgaudit_log_lacks_write():
    r = result(broken(lambda f: f["pgaudit"]["settings"].update({"pgaudit.log": "ddl, read"})), "CIS-3.2")
    assert r["status"] == "fail"
    assert r["reason"] == "pgaudit.log = 'ddl, read' does not log write"


def test_cis_3_2_reads_subtractions_the_way_pgaudit_does():
    r = result(broken(lambda f: f["pgaudit"]["settings"].update({"pgaudit.log": "all, -ddl"})), "CIS-3.2")
    assert r["status"] == "fail" and "does not log ddl" in r["reason"]


def test_cis_3_2_fails_when_pgaudit_is_not_preloaded():
    def unload(facts):
        facts["preload"].update(pgaudit_running=False, pgaudit_staged=False)
        facts["pgaudit"]["settings"] = {}

    r = result(broken(unload), "CIS-3.2")
    assert r["status"] == "fail" and "not in the running shared_preload_libraries" in r["reason"]


def test_cis_3_2_says_a_restart_is_missing_when_pgaudit_is_only_staged():
    r = result(broken(lambda f: f["preload"].update(pgaudit_running=False)), "CIS-3.2")
    assert "restart the server" in r["reason"]


@pytest.mark.parametrize("check_id,name", [("CIS-3.1.20", "log_connections"), ("CIS-3.1.21", "log_disconnections")])
def test_connection_logging_fails_when_off(check_id, name):
    assert result(compliant(), check_id)["status"] == "pass"
    r = result(broken(lambda f: f["logging"].update({name: "off"})), check_id)
    assert r["status"] == "fail" and r["reason"].startswith("%s = 'off'" % name)


def test_postgresql_18_list_valued_log_connections_counts_as_on_unless_empty():
    on = broken(lambda f: f["logging"].update(log_connections="receipt,authentication,authorization"))
    assert result(on, "CIS-3.1.20")["status"] == "pass"
    empty = broken(lambda f: f["logging"].update(log_connections=""))
    assert result(empty, "CIS-3.1.20")["status"] == "fail"


def test_cis_3_1_24_names_every_missing_prefix_item():
    r = result(broken(lambda f: f["logging"].update(log_line_prefix="%m [%p] %q%u@%d ")), "CIS-3.1.24")
    assert r["status"] == "fail"
    assert r["reason"].endswith("lacks application (%a), client (%h or %r)")


def test_log_line_prefix_escapes_are_parsed_not_searched():
    # %%u is a literal "%u", not the user; a padded %-10u is the user.
    assert compliance.missing_prefix_items("%m %p %%u %d %a %r", compliance.CIS_PREFIX) == ["user"]
    assert compliance.missing_prefix_items("%t %p %-10u %d %a %h", compliance.CIS_PREFIX) == []


def test_cis_3_1_25_fails_on_none_and_passes_on_ddl():
    assert result(compliant(), "CIS-3.1.25")["status"] == "fail"
    assert result(broken(lambda f: f["logging"].update(log_statement="ddl")), "CIS-3.1.25")["status"] == "pass"


def test_cis_3_1_26_accepts_the_names_of_utc_and_refuses_a_local_zone():
    assert result(broken(lambda f: f["logging"].update(log_timezone="Etc/UTC")), "CIS-3.1.26")["status"] == "pass"
    r = result(broken(lambda f: f["logging"].update(log_timezone="Europe/Paris")), "CIS-3.1.26")
    assert r["status"] == "fail" and "'Europe/Paris' is not UTC" in r["reason"]


def test_cis_4_8_fails_honestly_when_set_user_is_not_installed():
    r = result(broken(lambda f: f["set_user"].update(available_version=None)), "CIS-4.8")
    assert r["status"] == "fail" and "not installed" in r["reason"]


def test_cis_4_8_names_what_is_left_to_do_when_set_user_is_only_installed():
    r = result(broken(lambda f: f["set_user"].update(preloaded=False, databases=[])), "CIS-4.8")
    assert r["status"] == "fail"
    assert "not in the running shared_preload_libraries" in r["reason"] and "CREATE EXTENSION set_user" in r["reason"]


# --- STIG -----------------------------------------------------------------------------------


def test_stig_classes_fail_without_role_and_read():
    r = result(broken(lambda f: f["pgaudit"]["settings"].update({"pgaudit.log": "write, ddl"})), "STIG-classes")
    assert r["status"] == "fail" and r["reason"].endswith("does not log role, read")


@pytest.mark.parametrize(
    "check_id,name,bad",
    [
        ("STIG-log_catalog", "pgaudit.log_catalog", "off"),
        ("STIG-log_level", "pgaudit.log_level", "notice"),
        ("STIG-log_parameter", "pgaudit.log_parameter", "off"),
        ("STIG-log_statement_once", "pgaudit.log_statement_once", "on"),
    ],
)
def test_stig_pgaudit_settings_fail_on_the_wrong_value(check_id, name, bad):
    assert result(compliant(), check_id)["status"] == "pass"
    r = result(broken(lambda f: f["pgaudit"]["settings"].update({name: bad})), check_id)
    assert r["status"] == "fail" and ("%s = '%s'" % (name, bad)) in r["reason"]


def test_stig_settings_left_at_pgaudit_defaults_are_judged_by_the_defaults():
    facts = broken(lambda f: f["pgaudit"].update(settings={"pgaudit.log": "all"}))
    assert result(facts, "STIG-log_catalog")["status"] == "pass"  # default on
    assert result(facts, "STIG-log_parameter")["status"] == "fail"  # default off


def test_stig_preload_and_prefix():
    assert result(compliant(), "STIG-preload")["status"] == "pass"
    assert result(broken(lambda f: f["preload"].update(pgaudit_running=False)), "STIG-preload")["status"] == "fail"
    r = result(broken(lambda f: f["logging"].update(log_line_prefix="%m %u@%d ")), "STIG-log_line_prefix")
    assert r["status"] == "fail" and r["reason"].endswith("lacks client (%h or %r)")


# --- conflicts and pgtrail -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ddl", "mod", "all"])
def test_log_statement_that_logs_role_ddl_fails_for_the_cleartext_passwords(value):
    r = result(broken(lambda f: f["logging"].update(log_statement=value)), "PGT-passwords")
    assert r["status"] == "fail"
    assert "log_statement = '%s'" % value in r["reason"] and "cleartext passwords" in r["reason"]


def test_a_role_that_logs_every_statement_is_named_in_the_password_check():
    override = {"scope": "role", "target": "etl", "name": "log_statement", "value": "all"}
    r = result(broken(lambda f: f["logging"]["overrides"].append(override)), "PGT-passwords")
    assert r["status"] == "fail" and "role etl: log_statement = 'all'" in r["reason"]


def test_log_min_duration_statement_zero_also_logs_passwords():
    r = result(broken(lambda f: f["logging"].update(log_min_duration_statement="0")), "PGT-passwords")
    assert r["status"] == "fail" and "log_min_duration_statement = 0" in r["reason"]


def test_weakening_values_fail_listing_each_with_the_classes_it_drops():
    weak = [
        {"scope": "database", "target": "warehouse", "setting": "pgaudit.log", "value": "read",
         "system_value": "ddl, role, read, write", "classes_dropped": ["ddl", "role", "write"]},
        {"scope": "role_in_database", "target": "etl@warehouse", "setting": "pgaudit.log", "value": "none",
         "system_value": "ddl, role, read, write", "classes_dropped": ["ddl", "read", "role", "write"]},
    ]  # fmt: skip
    r = result(broken(lambda f: f.update(weakening=weak)), "PGT-weakening")
    assert r["status"] == "fail"
    assert "database warehouse: 'read' drops ddl, role, write" in r["reason"]
    assert "role_in_database etl@warehouse: 'none' drops ddl, read, role, write" in r["reason"]


def test_a_pending_restart_fails_naming_staged_and_running():
    def stage(facts):
        facts["preload"].update(staged=["pgaudit", "set_user", "pg_stat_statements"], restart_required=True)
        facts["pending_restart"] = ["shared_preload_libraries", "max_connections"]

    r = result(broken(stage), "PGT-restart")
    assert r["status"] == "fail"
    assert "staged as [pgaudit, set_user, pg_stat_statements] but running [pgaudit, set_user]" in r["reason"]
    assert "max_connections wait for a restart" in r["reason"]


def test_the_extension_check_names_missing_and_stale_databases():
    r = result(
        broken(lambda f: f["pgaudit"].update(extension_versions={"a": None, "b": "16.0", "c": "17.1"})), "PGT-extension"
    )
    assert r["status"] == "fail"
    assert r["reason"] == "the pgaudit extension is not created in a; not at the library's version 17.1 in b (16.0)"
    assert result(broken(lambda f: f["pgaudit"].update(extension_versions={})), "PGT-extension")["status"] == (
        "not_applicable"
    )


def test_trail_triggers_that_replication_mode_skips_fail():
    def origin_only(facts):
        table = facts["trail"]["databases"]["finance"]["audited"][0]
        table["not_always"] = [{"relation": "public.payments", "trigger": "pgtrail_audit_row", "enabled": "O"}]
        table["missing_triggers"] = ["pgtrail_audit_truncate"]
        facts["trail"]["databases"]["finance"]["event_triggers"]["pgtrail_audit_drop"] = "D"

    r = result(broken(origin_only), "PGT-trail-always")
    assert r["status"] == "fail"
    assert "finance: pgtrail_audit_row on public.payments is ENABLE (origin only" in r["reason"]
    assert "finance: public.payments has no trigger pgtrail_audit_truncate" in r["reason"]
    assert "event trigger pgtrail_audit_drop is DISABLED" in r["reason"]


def test_trail_checks_do_not_apply_without_a_trail():
    def no_trail(facts):
        facts["trail"]["databases"] = {"postgres": {"status": "no trail"}}
        facts["lockdown"]["databases"] = {}
        facts["hash_chain"]["databases"] = {"postgres": {"enabled": False}}

    facts = broken(no_trail)
    for check_id in ("PGT-trail-always", "PGT-log-lockdown", "PGT-chain"):
        assert result(facts, check_id)["status"] == "not_applicable", check_id


def test_a_dropped_audited_table_is_not_a_trigger_problem():
    def dropped(facts):
        table = facts["trail"]["databases"]["finance"]["audited"][0]
        table.update(present=False, missing_triggers=["pgtrail_audit_row"], enable_always=None)

    assert result(broken(dropped), "PGT-trail-always")["status"] == "pass"


def test_insert_on_the_log_is_allowed_but_update_delete_and_truncate_fail():
    r = result(compliant(), "PGT-log-lockdown")
    assert r["status"] == "pass" and "INSERT is held by finance: app_user" in r["reason"]
    writers = [{"role": "PUBLIC", "privileges": ["TRUNCATE"]}, {"role": "etl", "privileges": ["INSERT", "UPDATE"]}]
    r = result(broken(lambda f: f["lockdown"]["databases"]["finance"].update(writers=writers)), "PGT-log-lockdown")
    assert r["status"] == "fail"
    assert (
        "finance: PUBLIC holds TRUNCATE on audit.audit_log; finance: etl holds UPDATE on audit.audit_log" in r["reason"]
    )


def test_a_grant_of_set_on_pgaudit_log_fails():
    grants = [{"parameter": "pgaudit.log", "role": "app_admin", "privileges": ["SET"]}]
    r = result(broken(lambda f: f["lockdown"].update(parameter_grants=grants)), "PGT-pgaudit-set")
    assert (
        r["status"] == "fail" and r["reason"] == "besides the superusers (postgres), app_admin holds SET on pgaudit.log"
    )


def test_a_broken_chain_fails_with_where_it_breaks():
    bad = {"ok": False, "checked": 40, "broken_id": 17, "expected": "ab12", "found": "ff00"}
    r = result(broken(lambda f: f["hash_chain"]["databases"]["finance"].update(verify=bad)), "PGT-chain")
    assert (
        r["status"] == "fail"
        and r["reason"] == "finance: the chain is broken at broken_id 17, expected ab12, found ff00"
    )


def test_a_chain_without_verifier_or_whose_verifier_errors_fails():
    no_verifier = broken(lambda f: f["hash_chain"]["databases"]["finance"].update(verifier=False))
    assert "no verify_chain()" in result(no_verifier, "PGT-chain")["reason"]
    erroring = broken(lambda f: f["hash_chain"]["databases"]["finance"].update(error="permission denied"))
    assert result(erroring, "PGT-chain")["reason"] == "finance: verify_chain() failed: permission denied"


def test_a_chain_not_verified_on_request_is_not_applicable():
    skipped = broken(lambda f: f["hash_chain"]["databases"]["finance"].pop("verify"))
    assert result(skipped, "PGT-chain")["status"] == "not_applicable"


def test_facts_from_an_older_audit_info_fail_the_checks_they_cannot_support_without_crashing():
    old = {"pgaudit": {"loaded": True, "settings": {"pgaudit.log": "write, ddl"}}, "pending_restart": []}
    results = evaluate(old)
    assert result(old, "CIS-3.2")["status"] == "pass"
    assert result(old, "CIS-3.1.20")["reason"] == "log_connections was not read"
    assert len(results) == len(compliance.CHECKS)


def test_every_check_carries_the_controls_it_serves_from_the_one_table():
    for result in evaluate(compliant()):
        assert result["controls"] == list(compliance.CONTROLS[result["id"]]), result["id"]
        assert result["controls"], result["id"]
    # Each CIS check names its own benchmark item; the audit-recording checks SOC 2 CC7.2 and HIPAA.
    for check_id, _standard, _title, _check in compliance.CHECKS:
        if check_id.startswith("CIS-"):
            assert "CIS " + check_id[4:] in compliance.CONTROLS[check_id]
    assert "SOC 2 CC7.2" in compliance.CONTROLS["CIS-3.2"] and "HIPAA 164.312(b)" in compliance.CONTROLS["CIS-3.2"]
    assert "PCI DSS 10.3.4" in compliance.CONTROLS["PGT-chain"]


@pytest.mark.parametrize("check_id", sorted(compliance.CONTROLS))
def test_every_control_id_names_a_known_framework_and_is_listed_once(check_id):
    controls = compliance.CONTROLS[check_id]
    assert len(set(controls)) == len(controls)
    for control in controls:
        assert any(control.startswith(framework + " ") for framework in compliance.FRAMEWORKS), control


def test_a_check_the_table_does_not_know_has_no_controls_rather_than_an_error():
    assert compliance.controls_of("PGT-unknown") == []
