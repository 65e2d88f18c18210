"""The pgaudit_validate filter: normalised settings, or an error naming the bad value."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgtrail.audit.plugins.filter.pgaudit import FilterModule, pgaudit_validate


def test_the_filter_is_registered_under_its_documented_name():
    assert FilterModule().filters() == {"pgaudit_validate": pgaudit_validate}


def test_names_get_the_prefix_and_values_their_canonical_form():
    result = pgaudit_validate({"log": ["DDL", "write"], "log_catalog": False, "pgaudit.log_level": "DEBUG"})
    assert result == {"pgaudit.log": "write, ddl", "pgaudit.log_catalog": "off", "pgaudit.log_level": "debug2"}


def test_an_empty_or_missing_dict_is_no_settings():
    assert pgaudit_validate({}) == {}
    assert pgaudit_validate(None) == {}


def test_an_unknown_class_is_named():
    with pytest.raises(AnsibleFilterError, match="unknown class 'bogus'"):
        pgaudit_validate({"log": ["write", "bogus"]})


def test_every_problem_is_reported_at_once():
    with pytest.raises(AnsibleFilterError) as raised:
        pgaudit_validate({"log": "read, nope", "log_level": "error", "lgo_client": True})
    message = str(raised.value)
    assert "3 invalid pgaudit setting(s)" in message
    assert "'nope'" in message
    assert "'error'" in message
    assert "'lgo_client'" in message


def test_a_setting_the_version_lacks_names_the_version():
    with pytest.raises(
        AnsibleFilterError, match=r"log_parameter_max_size needs pgaudit 16.0 or later; the installed pgaudit is 1.7"
    ):
        pgaudit_validate({"log_parameter_max_size": 1024}, pgaudit_version="1.7")
    assert pgaudit_validate({"log_parameter_max_size": 1024}, pgaudit_version="17.1") == {
        "pgaudit.log_parameter_max_size": "1024"
    }


def test_without_a_version_no_setting_is_gated():
    assert pgaudit_validate({"log_rows": "yes"}) == {"pgaudit.log_rows": "on"}


def test_the_label_names_where_the_settings_came_from():
    with pytest.raises(AnsibleFilterError, match=r"^pgaudit_databases\.finance: .*'bogus'"):
        pgaudit_validate({"log": "bogus"}, label="pgaudit_databases.finance")


def test_a_non_dict_is_refused():
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        pgaudit_validate(["log", "read"])
