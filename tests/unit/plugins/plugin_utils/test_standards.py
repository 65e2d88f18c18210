"""One source per compliance standard: the profiles cis and stig set what the checks ask for."""

import pytest
from test_compliance import compliant

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps
from ansible_collections.pgtrail.audit.plugins.plugin_utils.compliance import evaluate


def with_profile(name):
    """A host whose pgaudit.* values are exactly those of profile ``name`` (pgaudit loaded), in
    the facts shape audit_info returns and the checks read; its other facts are compliant."""
    facts = compliant()
    facts["pgaudit"]["settings"] = ps.profile_settings(name)
    return facts


def verdicts(name, standard):
    return {r["id"]: (r["status"], r["reason"]) for r in evaluate(with_profile(name), [standard])}


def test_the_stig_profile_passes_every_stig_check():
    failing = {check: why for check, (status, why) in verdicts("stig", "stig").items() if status != "pass"}
    assert failing == {}


def test_the_cis_profile_passes_cis_3_2():
    assert verdicts("cis", "cis")["CIS-3.2"][0] == "pass"


@pytest.mark.parametrize(
    "profile, check",
    [
        # The baseline logs write and ddl only, with log_catalog off and statement once on.
        ("baseline", "STIG-classes"),
        ("baseline", "STIG-log_catalog"),
        ("baseline", "STIG-log_statement_once"),
        # CIS asks for classes only: its profile leaves the other values at pgaudit's defaults.
        ("cis", "STIG-classes"),
        ("cis", "STIG-log_parameter"),
    ],
)
def test_a_profile_short_of_the_stig_fails_the_check_it_misses(profile, check):
    assert verdicts(profile, "stig")[check][0] == "fail"


def test_every_value_the_stig_asks_of_pgaudit_has_its_check():
    checks = verdicts("stig", "stig")
    for name in ps.STANDARDS["stig"]["settings"]:
        assert "STIG-" + name.split(".", 1)[1] in checks
