"""The filters playbooks/report.yml uses: compliance, drift and fleet_report."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgtrail.audit.plugins.filter import compliance as compliance_filter
from ansible_collections.pgtrail.audit.plugins.filter import drift as drift_filter
from ansible_collections.pgtrail.audit.plugins.filter import fleet_report as report_filter
from ansible_collections.pgtrail.audit.plugins.plugin_utils import filters

FACTS = {"pgaudit": {"loaded": False}}


def test_the_filters_are_registered_under_their_documented_names():
    assert compliance_filter.FilterModule().filters() == {"compliance": compliance_filter.compliance}
    assert drift_filter.FilterModule().filters() == {"drift": drift_filter.drift}
    assert report_filter.FilterModule().filters() == {"fleet_report": report_filter.fleet_report}


def test_filter_errors_name_the_filter():
    with pytest.raises(AnsibleFilterError, match="compliance: unknown compliance standard"):
        compliance_filter.compliance(FACTS, ["sox"])
    with pytest.raises(AnsibleFilterError, match="drift: the facts have no pgaudit.settings_by_scope"):
        drift_filter.drift({"system": {}}, {})
    with pytest.raises(AnsibleFilterError, match="fleet_report: fleet_model expects"):
        report_filter.fleet_report(["db1"])


@pytest.mark.parametrize("keyword", ["standards", "profiles"])
def test_compliance_takes_standards_and_its_old_name(keyword):
    results = compliance_filter.compliance(FACTS, **{keyword: ["cis"]})
    assert {r["standard"] for r in results} == {"CIS"}


@pytest.mark.parametrize("keyword", ["standards", "profiles"])
def test_fleet_report_takes_standards_and_its_old_name(keyword):
    model = report_filter.fleet_report({"db1": {"error": "down"}}, **{keyword: ["stig"]})
    assert model["standards"] == model["profiles"] == ["STIG"]


@pytest.mark.parametrize("function", [compliance_filter.compliance, report_filter.fleet_report])
def test_the_old_keyword_warns_that_it_is_deprecated(function, monkeypatch):
    # Ansible's Display shows each deprecation once a process: record the calls instead.
    said = []
    monkeypatch.setattr(filters.Display, "deprecated", lambda self, msg, **kwargs: said.append((msg, kwargs)))
    function({"db1": {"error": "down"}} if function is report_filter.fleet_report else FACTS, profiles=["cis"])
    assert said == [
        (
            "the %s filter's keyword profiles= is renamed standards=" % function.__name__,
            dict(version="0.2.0", collection_name="pgtrail.audit"),
        )
    ]


@pytest.mark.parametrize("function", [compliance_filter.compliance, report_filter.fleet_report])
def test_both_keywords_at_once_are_refused(function):
    with pytest.raises(AnsibleFilterError, match="give standards= only"):
        function({}, standards=["cis"], profiles=["cis"])
