"""pgaudit settings: validation, normalisation, semantic comparison and planning (pure logic)."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import pgaudit_settings as ps

ALL_CONCRETE = frozenset(["read", "write", "function", "role", "ddl", "misc", "misc_set"])


# --- pgaudit.log normalisation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("write, ddl", "write, ddl"),
        ("ddl,write", "write, ddl"),
        ("WRITE,ddl", "write, ddl"),
        ("  Ddl ,   WRITE  ", "write, ddl"),
        (["ddl", "write"], "write, ddl"),
        (("ddl", "write"), "write, ddl"),
        (["ddl, role", "read", "write"], "read, write, role, ddl"),
        ("ddl, write, DDL, write", "write, ddl"),
        ("misc_set, misc, function", "function, misc, misc_set"),
        ("all", "all"),
        ("ALL, -MISC", "all, -misc"),
        ("all, -misc_set, -read", "all, -read, -misc_set"),
        ("all, -misc, -misc", "all, -misc"),
        ("none", "none"),
        ("NONE", "none"),
        ("none, none", "none"),
        ("", "none"),
        ("  ", "none"),
        ([], "none"),
    ],
)
def test_normalize_log_classes(value, expected):
    assert ps.normalize_log_classes(value) == expected


@pytest.mark.parametrize("value", ["write, ddl", "all, -misc", "none", "read, write, role, ddl", "misc, -misc_set"])
def test_normalize_log_classes_is_idempotent(value):
    once = ps.normalize_log_classes(value)
    assert ps.normalize_log_classes(once) == once


@pytest.mark.parametrize(
    "value, token",
    [
        ("read, raed", "'raed'"),
        (["write", "privilege"], "'privilege'"),
        ("-dml", "'-dml'"),
        ('read, -"MISC"', "'-\"misc\"'"),  # unquoted: the quotes are part of the name
        ("read\u00a0", "'read\\xa0'"),  # a no-break space is no separator for PostgreSQL
        ('""', "''"),
    ],
)
def test_unknown_class_names_the_token_and_lists_valid_ones(value, token):
    with pytest.raises(ValueError) as exc:
        ps.normalize_log_classes(value)
    message = str(exc.value)
    assert token in message
    assert "none, all, read, write, function, role, ddl, misc, misc_set" in message


def test_every_unknown_class_is_named_at_once():
    with pytest.raises(ValueError) as exc:
        ps.normalize_log_classes("raed, write, wrte")
    assert "'raed'" in str(exc.value) and "'wrte'" in str(exc.value)


# What pgaudit's check_pgaudit_log refuses (PostgreSQL's SplitIdentifierString returns false).
@pytest.mark.parametrize(
    "value",
    [
        "read,,write",
        "read, write,",
        ",read",
        " , ",
        ["read", ""],
        ["", "write"],
        "read write",
        "- read",
        "read; write",
        '"read',
        '"read"x',
    ],
)
def test_what_pgaudit_refuses_is_refused(value):
    with pytest.raises(ValueError, match="not a list pgaudit accepts"):
        ps.normalize_log_classes(value)


# What pgaudit accepts, however odd, is accepted and written as what it logs.
@pytest.mark.parametrize(
    "value, expected",
    [
        ("none, read", "read"),
        (["read", "none"], "read"),
        ("all, -none", "all"),
        ("-none", "none"),
        ("-misc, all", "all"),
        ("all, -read, read", "all"),
        ("-misc_set, misc", "misc"),
        ("all, -misc_set", "all, -misc_set"),
        ('"read", "-DDL", "WRITE"', "read, write"),
        ('"all","-misc"', "all, -misc"),
        ("\tread\n,\fwrite\r", "read, write"),
        ("-misc", "none"),
        ("-read, -write", "none"),
        ("read, -read", "none"),
    ],
)
def test_what_pgaudit_accepts_is_accepted_by_meaning(value, expected):
    assert ps.normalize_log_classes(value) == expected
    assert ps.effective_classes(expected) == ps.effective_classes(value)


@pytest.mark.parametrize(
    "value, off",
    [
        ("none", True),
        ("", True),
        ([], True),
        ("  ", True),
        ("-misc", True),
        ("read, -read", True),
        ("none, none", True),
        ("misc_set", False),
        ("none, read", False),
        ("all, -misc", False),
    ],
)
def test_logs_nothing(value, off):
    assert ps.logs_nothing(value) is off


@pytest.mark.parametrize("value", [None, 3, {"read": True}, ["read", 5]])
def test_log_classes_of_a_wrong_type(value):
    with pytest.raises(ValueError):
        ps.normalize_log_classes(value)


# --- effective classes and weakening ----------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("none", frozenset()),
        ("", frozenset()),
        ("read", frozenset(["read"])),
        ("all", ALL_CONCRETE),
        ("all, -misc", ALL_CONCRETE - {"misc", "misc_set"}),
        ("misc", frozenset(["misc", "misc_set"])),
        ("misc, -misc_set", frozenset(["misc"])),
        ("misc_set", frozenset(["misc_set"])),
        # pgaudit semantics, even for forms normalize_log_classes refuses:
        ("none, read", frozenset(["read"])),
        ("-read, all", ALL_CONCRETE),
        ("all, -misc, misc_set", ALL_CONCRETE - {"misc"}),
        ("-misc", frozenset()),
    ],
)
def test_effective_classes(value, expected):
    assert ps.effective_classes(value) == expected


@pytest.mark.parametrize(
    "left, right",
    [
        ("WRITE,ddl", "ddl, write"),
        (["ddl", "write"], "write,ddl,write"),
        ("misc", "misc, misc_set"),
        ("all", "read, write, function, role, ddl, misc"),
        ("all, -misc", "read, write, function, role, ddl"),
    ],
)
def test_effective_classes_compare_values_semantically(left, right):
    assert ps.effective_classes(left) == ps.effective_classes(right)


def test_effective_classes_rejects_unknown_class():
    with pytest.raises(ValueError, match="'bogus'"):
        ps.effective_classes("read, bogus")


@pytest.mark.parametrize(
    "system, other, dropped",
    [
        ("write, ddl", "none", ["ddl", "write"]),
        ("write, ddl", "write", ["ddl"]),
        ("write, ddl", "ddl, write, read", []),
        ("write, ddl", "all", []),
        ("all", "read", ["ddl", "function", "misc", "misc_set", "role", "write"]),
        ("all", "all, -misc", ["misc", "misc_set"]),
        ("misc", "misc_set", ["misc"]),
        ("none", "none", []),
        ("read", "none", ["read"]),
    ],
)
def test_weakens(system, other, dropped):
    assert ps.weakens(system, other) == dropped


# --- catalogue and names ------------------------------------------------------------------------


def test_catalogue_matches_pgaudit_defaults():
    defaults = {name: spec["default"] for name, spec in ps.SETTINGS.items()}
    assert defaults == {
        "pgaudit.log": "none",
        "pgaudit.log_catalog": "on",
        "pgaudit.log_client": "off",
        "pgaudit.log_level": "log",
        "pgaudit.log_parameter": "off",
        "pgaudit.log_parameter_max_size": "0",
        "pgaudit.log_relation": "off",
        "pgaudit.log_rows": "off",
        "pgaudit.log_statement": "on",
        "pgaudit.log_statement_once": "off",
        "pgaudit.role": "",
    }


@pytest.mark.parametrize("name", sorted(ps.SETTINGS))
def test_every_default_is_canonical(name):
    assert ps.normalize_setting(name, ps.SETTINGS[name]["default"]) == ps.SETTINGS[name]["default"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("log", "pgaudit.log"),
        ("pgaudit.log", "pgaudit.log"),
        ("PGAUDIT.Log_Level", "pgaudit.log_level"),
        (" role ", "pgaudit.role"),
        ("log_parameter_max_size", "pgaudit.log_parameter_max_size"),
    ],
)
def test_full_name(name, expected):
    assert ps.full_name(name) == expected


@pytest.mark.parametrize("name", ["log_lvl", "pgaudit.logs", "log_min_duration_statement", "", None])
def test_unknown_setting_names_it_and_lists_known_ones(name):
    with pytest.raises(ValueError) as exc:
        ps.full_name(name)
    message = str(exc.value)
    assert repr(name) in message
    if isinstance(name, str):
        assert "log_statement_once" in message and "log_parameter_max_size" in message


@pytest.mark.parametrize(
    "name, expected",
    [("pgaudit.log", True), ("PGAUDIT.lgo", True), ("log_statement", False), ("pgauditx", False), (None, False)],
)
def test_is_pgaudit_name(name, expected):
    assert ps.is_pgaudit_name(name) is expected


# --- single settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, "on"),
        (False, "off"),
        ("on", "on"),
        ("off", "off"),
        ("ON", "on"),
        ("Off", "off"),
        ("of", "off"),
        ("true", "on"),
        ("t", "on"),
        ("tr", "on"),
        ("TRUE", "on"),
        ("false", "off"),
        ("f", "off"),
        ("fal", "off"),
        ("yes", "on"),
        ("y", "on"),
        ("ye", "on"),
        ("no", "off"),
        ("n", "off"),
        ("1", "on"),
        ("0", "off"),
        (1, "on"),
        (0, "off"),
        (" on ", "on"),
    ],
)
def test_bool_spellings(value, expected):
    assert ps.normalize_setting("log_catalog", value) == expected


@pytest.mark.parametrize("value", ["o", "", "maybe", "onn", "truee", "2", "01", 2, -1, 1.0, [], "enable"])
def test_bad_bool_names_setting_and_value(value):
    with pytest.raises(ValueError) as exc:
        ps.normalize_setting("pgaudit.log_parameter", value)
    assert "pgaudit.log_parameter" in str(exc.value)
    assert repr(value) in str(exc.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, "0"),
        ("0", "0"),
        (1024, "1024"),
        ("  2048 ", "2048"),
        ("+16", "16"),
        ("007", "7"),
        (ps.MAX_PARAMETER_SIZE, str(ps.MAX_PARAMETER_SIZE)),
    ],
)
def test_int_values(value, expected):
    assert ps.normalize_setting("log_parameter_max_size", value) == expected


@pytest.mark.parametrize("value", [-1, "-5", ps.MAX_PARAMETER_SIZE + 1, "1kB", "1.5", 1.5, True, "", "0x10"])
def test_bad_int_names_setting_and_value(value):
    with pytest.raises(ValueError) as exc:
        ps.normalize_setting("log_parameter_max_size", value)
    assert "pgaudit.log_parameter_max_size" in str(exc.value)
    assert repr(value) in str(exc.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("log", "log"),
        ("LOG", "log"),
        (" Notice ", "notice"),
        ("debug5", "debug5"),
        ("warning", "warning"),
        ("info", "info"),
        ("debug", "debug2"),
    ],
)
def test_log_level_values(value, expected):
    assert ps.normalize_setting("log_level", value) == expected


@pytest.mark.parametrize("value", ["error", "FATAL", "panic", "debug6", "", 5, True])
def test_bad_log_level_names_setting_and_value(value):
    with pytest.raises(ValueError) as exc:
        ps.normalize_setting("log_level", value)
    message = str(exc.value)
    assert "pgaudit.log_level" in message and repr(value) in message
    assert "debug5, debug4, debug3, debug2, debug1, info, notice, warning, log" in message


@pytest.mark.parametrize("value", ["auditor", "", "Audit Role", " spaced "])
def test_role_is_kept_as_given(value):
    assert ps.normalize_setting("pgaudit.role", value) == value


def test_role_must_be_a_string():
    with pytest.raises(ValueError, match="pgaudit.role"):
        ps.normalize_setting("role", 123)


def test_log_goes_through_normalize_log_classes():
    assert ps.normalize_setting("log", ["DDL", "write"]) == "write, ddl"


@pytest.mark.parametrize("name", sorted(ps.SETTINGS))
def test_none_value_is_an_error(name):
    with pytest.raises(ValueError, match="no value given"):
        ps.normalize_setting(name, None)


# --- versions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "left, right",
    [("1.7.0", "16.0"), ("1.5", "1.6"), ("1.6.2", "1.7"), ("16.1", "17"), ("9.9", "10.0"), ((1, 7, 1), "16")],
)
def test_versions_compare_numerically(left, right):
    assert ps.parse_version(left) < ps.parse_version(right)


@pytest.mark.parametrize("left, right", [("16", "16.0"), ("16.0.0", 16), ("1.6", "1.6.0"), ("17.0beta1", "17")])
def test_equal_versions(left, right):
    assert ps.parse_version(left) == ps.parse_version(right)


@pytest.mark.parametrize("value", ["", "beta", None, True, "v1.7"])
def test_bad_version(value):
    with pytest.raises(ValueError, match="invalid pgaudit version"):
        ps.parse_version(value)


@pytest.mark.parametrize(
    "name, value, version, required",
    [
        ("log_parameter_max_size", 1024, "1.7.0", "16.0"),
        ("log_parameter_max_size", 0, "1.6.2", "16.0"),
        ("log_rows", "on", "1.5", "1.6"),
        ("pgaudit.log_statement", "off", "1.4.3", "1.6"),
    ],
)
def test_setting_newer_than_installed_pgaudit(name, value, version, required):
    with pytest.raises(ValueError) as exc:
        ps.normalize_setting(name, value, pgaudit_version=version)
    message = str(exc.value)
    assert ps.full_name(name) in message
    assert "pgaudit %s or later" % required in message
    assert "installed pgaudit is %s" % version in message


@pytest.mark.parametrize(
    "name, version",
    [
        ("log_parameter_max_size", "16.0"),
        ("log_parameter_max_size", "17.1"),
        ("log_parameter_max_size", "16"),
        ("log_rows", "1.6"),
        ("log_rows", "1.7.0"),
        ("log_statement", "18.0"),
        ("log", "1.0"),
    ],
)
def test_setting_available_in_installed_pgaudit(name, version):
    ps.normalize_setting(name, ps.SETTINGS[ps.full_name(name)]["default"], pgaudit_version=version)


# --- many settings ------------------------------------------------------------------------------


def test_normalize_settings_returns_full_names_and_canonical_values():
    result = ps.normalize_settings(
        {"log": ["DDL", "write"], "pgaudit.log_catalog": False, "log_level": "LOG", "log_parameter_max_size": "1024"},
        pgaudit_version="16.1",
    )
    assert result == {
        "pgaudit.log": "write, ddl",
        "pgaudit.log_catalog": "off",
        "pgaudit.log_level": "log",
        "pgaudit.log_parameter_max_size": "1024",
    }
    assert list(result) == sorted(result)


@pytest.mark.parametrize("value", [None, {}])
def test_normalize_settings_empty(value):
    assert ps.normalize_settings(value) == {}


def test_normalize_settings_collects_every_error():
    with pytest.raises(ValueError) as exc:
        ps.normalize_settings(
            {
                "log": "read, raed",
                "log_catalog": "maybe",
                "log_lvl": "log",
                "log_level": "error",
                "log_parameter_max_size": 10,
                "log_client": "on",
            },
            pgaudit_version="1.7.0",
        )
    message = str(exc.value)
    assert message.startswith("5 invalid pgaudit setting(s)")
    for part in ("'raed'", "'maybe'", "'log_lvl'", "'error'", "needs pgaudit 16.0"):
        assert part in message
    assert "pgaudit.log_client:" not in message


def test_normalize_settings_rejects_a_setting_given_twice():
    with pytest.raises(ValueError, match="pgaudit.log given twice"):
        ps.normalize_settings({"log": "read", "pgaudit.log": "write"})


@pytest.mark.parametrize("value", ["log=read", ["log"]])
def test_normalize_settings_needs_a_dict(value):
    with pytest.raises(ValueError, match="must be a dict"):
        ps.normalize_settings(value)


def test_normalize_settings_bad_version_is_one_error():
    with pytest.raises(ValueError, match="^invalid pgaudit version"):
        ps.normalize_settings({"log": "read"}, pgaudit_version="latest")


# --- setconfig ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array, expected",
    [
        (None, {}),
        ([], {}),
        (["pgaudit.log=read, write"], {"pgaudit.log": "read, write"}),
        (
            ['search_path="$user", public', "pgaudit.log_catalog=off", "pgaudit.role="],
            {"search_path": '"$user", public', "pgaudit.log_catalog": "off", "pgaudit.role": ""},
        ),
        (["pgaudit.role=a=b"], {"pgaudit.role": "a=b"}),
        (("work_mem=64MB",), {"work_mem": "64MB"}),
    ],
)
def test_parse_setconfig(array, expected):
    assert ps.parse_setconfig(array) == expected


@pytest.mark.parametrize("array", ["pgaudit.log=read", ["pgaudit.log"], [None], {"a": "b"}])
def test_parse_setconfig_malformed(array):
    with pytest.raises(ValueError):
        ps.parse_setconfig(array)


# --- planning -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "current",
    [
        {"pgaudit.log": "write, ddl", "pgaudit.log_catalog": "off"},
        {"pgaudit.log": "DDL,WRITE", "pgaudit.log_catalog": "false"},
        {"pgaudit.log": "ddl, write, ddl", "pgaudit.log_catalog": "0", "work_mem": "64MB"},
    ],
)
def test_plan_scope_is_idempotent_for_equal_meaning(current):
    desired = ps.normalize_settings({"log": "write, ddl", "log_catalog": False})
    assert ps.plan_scope(current, desired) == []
    assert ps.plan_scope(current, desired, remove_unlisted=True) == []


@pytest.mark.parametrize(
    "current_log, desired_log",
    [
        ("all", "read, write, function, role, ddl, misc"),
        ("misc, misc_set", "misc"),
        ("none, read", "read"),
        ("", "none"),
    ],
)
def test_plan_scope_compares_log_by_what_it_logs(current_log, desired_log):
    assert ps.plan_scope({"pgaudit.log": current_log}, {"pgaudit.log": desired_log}) == []


def test_plan_scope_sets_missing_and_different_values_sorted_by_name():
    current = {"pgaudit.log_level": "notice", "pgaudit.log": "read"}
    desired = ps.normalize_settings({"role": "auditor", "log": "write, ddl", "log_level": "notice", "log_client": "on"})
    assert ps.plan_scope(current, desired) == [
        ("set", "pgaudit.log", "write, ddl"),
        ("set", "pgaudit.log_client", "on"),
        ("set", "pgaudit.role", "auditor"),
    ]


def test_plan_scope_sets_a_default_value_that_is_not_set_at_the_scope():
    # At role scope an explicit default still overrides the wider scope.
    assert ps.plan_scope({}, {"pgaudit.log_catalog": "on"}) == [("set", "pgaudit.log_catalog", "on")]


@pytest.mark.parametrize(
    "current_value",
    ["read, bogus", "maybe", None, ""],
)
def test_plan_scope_unreadable_current_value_counts_as_different(current_value):
    current = {"pgaudit.log": current_value, "pgaudit.log_client": current_value}
    desired = {"pgaudit.log": "read", "pgaudit.log_client": "off"}
    assert ps.plan_scope(current, desired) == [
        ("set", "pgaudit.log", "read"),
        ("set", "pgaudit.log_client", "off"),
    ]


def test_plan_scope_role_compares_exactly():
    assert ps.plan_scope({"pgaudit.role": "auditor"}, {"pgaudit.role": "auditor"}) == []
    assert ps.plan_scope({"pgaudit.role": "Auditor"}, {"pgaudit.role": "auditor"}) == [
        ("set", "pgaudit.role", "auditor")
    ]


def test_plan_scope_normalises_raw_desired_values():
    assert ps.plan_scope({"pgaudit.log_catalog": "off"}, {"log_catalog": False, "log": ["DDL"]}) == [
        ("set", "pgaudit.log", "ddl")
    ]


def test_plan_scope_leaves_unlisted_settings_alone_by_default():
    current = {"pgaudit.log": "all", "pgaudit.log_relation": "on", "work_mem": "64MB"}
    assert ps.plan_scope(current, {"pgaudit.log": "all"}) == []


def test_plan_scope_remove_unlisted_resets_only_pgaudit_names():
    current = {
        "pgaudit.log": "all",
        "pgaudit.log_relation": "on",
        "pgaudit.lgo": "read",  # a misspelt placeholder is reset as well
        "work_mem": "64MB",
        "search_path": "app",
    }
    assert ps.plan_scope(current, {"pgaudit.log": "all"}, remove_unlisted=True) == [
        ("reset", "pgaudit.lgo"),
        ("reset", "pgaudit.log_relation"),
    ]


def test_plan_scope_remove_unlisted_with_nothing_desired_resets_everything_pgaudit():
    current = ps.parse_setconfig(["pgaudit.log=read", "pgaudit.log_client=on", "statement_timeout=5s"])
    assert ps.plan_scope(current, {}, remove_unlisted=True) == [
        ("reset", "pgaudit.log"),
        ("reset", "pgaudit.log_client"),
    ]


@pytest.mark.parametrize("current", [None, {}])
def test_plan_scope_empty_current(current):
    assert ps.plan_scope(current, {"pgaudit.log": "ddl"}, remove_unlisted=True) == [("set", "pgaudit.log", "ddl")]


def test_plan_scope_rejects_invalid_desired():
    with pytest.raises(ValueError, match="'raed'"):
        ps.plan_scope({}, {"pgaudit.log": "raed"})


def test_plan_then_apply_converges():
    current = {"pgaudit.log": "read", "pgaudit.log_rows": "on", "work_mem": "4MB"}
    desired = ps.normalize_settings({"log": "WRITE, ddl", "log_parameter": "yes"})
    for action in ps.plan_scope(current, desired, remove_unlisted=True):
        if action[0] == "set":
            current[action[1]] = action[2]
        else:
            del current[action[1]]
    assert ps.plan_scope(current, desired, remove_unlisted=True) == []
    assert current == {"pgaudit.log": "write, ddl", "pgaudit.log_parameter": "on", "work_mem": "4MB"}


# --- profiles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["baseline", "seed"])
def test_profiles_content(name):
    assert ps.profile_settings(name) == {
        "pgaudit.log": "write, ddl",
        "pgaudit.log_catalog": "off",
        "pgaudit.log_level": "log",
        "pgaudit.log_parameter": "on",
        "pgaudit.log_statement_once": "on",
    }
    assert ps.profile_settings("cis") == {"pgaudit.log": "write, ddl"}
    stig = ps.profile_settings("stig")
    assert ps.effective_classes(stig["pgaudit.log"]) == ps.effective_classes("ddl, role, read, write")
    assert stig == {
        "pgaudit.log": "read, write, role, ddl",
        "pgaudit.log_catalog": "on",
        "pgaudit.log_level": "log",
        "pgaudit.log_parameter": "on",
        "pgaudit.log_statement_once": "off",
    }


@pytest.mark.parametrize("name", sorted(ps.PROFILES))
def test_profiles_are_already_canonical(name):
    profile = ps.profile_settings(name)
    assert ps.normalize_settings(profile, pgaudit_version="1.4") == profile
    assert ps.plan_scope(profile, profile) == []


def test_profile_settings_returns_a_copy():
    profile = ps.profile_settings("baseline")
    profile["pgaudit.log"] = "all"
    assert ps.PROFILES["baseline"]["pgaudit.log"] == "write, ddl"
    assert ps.profile_settings(" STIG ")["pgaudit.log"] == "read, write, role, ddl"


@pytest.mark.parametrize("name", ["pci", "", None])
def test_unknown_profile_names_it(name):
    with pytest.raises(ValueError) as exc:
        ps.profile_settings(name)
    assert repr(name) in str(exc.value)
    assert "baseline, cis, coverage, stig" in str(exc.value)


@pytest.mark.parametrize(
    "database, role, expected",
    [
        ("finance", None, ("database", "finance")),
        (None, "etl", ("role", "etl")),
        ("dw", "etl", ("role_in_database", "etl@dw")),
        ("", "etl", ("role", "etl")),
    ],
)
def test_every_scope_is_named_one_way(database, role, expected):
    assert ps.scope_of(database, role) == expected
