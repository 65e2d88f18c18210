"""Every entry point the playbooks use has an argument spec, and every boolean and integer
variable of the roles works when given as a string, as `-e name=value` gives it.

Ansible's role argument validation checks that "false" or "60" can be converted, but hands the
tasks the string: a task that tests the variable must coerce it (`| bool`, `| int`), or pass it
to a module argument, which converts it by the module's own spec.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def spec(role):
    return yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def entry_points():
    """(playbook, role, tasks_from) of every include_role/import_role in the playbooks."""
    found = []
    for playbook in sorted((ROOT / "playbooks").glob("*.yml")):
        text = playbook.read_text()
        for match in re.finditer(r"name: pgtrail\.audit\.(\w+)\n\s+tasks_from: (\S+)", text):
            found.append((playbook.name, match.group(1), match.group(2)))
        for match in re.finditer(r"role: pgtrail\.audit\.(\w+)", text):
            found.append((playbook.name, match.group(1), "main"))
    return sorted(set(found))


def typed_variables(*types):
    return [
        (role, name)
        for role in ROLES
        for name, option in sorted(spec(role)["main"]["options"].items())
        if option.get("type") in types
    ]


def test_the_playbooks_enter_the_roles_somewhere():
    assert ("site.yml", "pgaudit", "validate.yml") in entry_points()


@pytest.mark.parametrize("playbook, role, entry", entry_points())
def test_every_entry_point_a_playbook_uses_has_an_argument_spec_with_every_option(playbook, role, entry):
    specs = spec(role)
    assert entry in specs, "%s enters %s at %s, which has no argument spec" % (playbook, role, entry)
    assert specs[entry]["options"] == specs["main"]["options"]


def uses(name):
    """(file, line) of every place a task or playbook reads the variable as an expression."""
    files = sorted((ROOT / "roles").glob("*/tasks/*.yml")) + sorted((ROOT / "playbooks").glob("*.yml"))
    found = []
    for path in files:
        for line in path.read_text().splitlines():
            code = line.split("#", 1)[0]
            if re.search(r"\b%s\b" % name, code) and not re.match(r"\s*(msg|- name|name):", code):
                found.append((path.relative_to(ROOT).as_posix(), line.strip()))
    return found


def read_as(role, name):
    """The name the tasks read: a shared variable (pgtrail_*) through the role's resolution of
    its one name and its old ones (vars/main.yml, __<role>_<what>)."""
    return "__%s_%s" % (role, name[len("pgtrail_") :]) if name.startswith("pgtrail_") else name


@pytest.mark.parametrize("role, name", typed_variables("bool", "int"))
def test_every_boolean_and_integer_is_coerced_where_a_task_reads_it(role, name):
    name = read_as(role, name)
    coerced = re.compile(r"\b%s\b(\s*\|\s*default\([^)]*\))?\s*\|\s*(bool|int)\b" % name)
    # A module argument that is the variable alone: the module's spec converts the string.
    module_argument = re.compile(r'^[a-z_]+: "\{\{ %s \}\}"$' % name)
    bare = [(path, line) for path, line in uses(name) if not coerced.search(line) and not module_argument.match(line)]
    assert bare == [], "%s is read without | bool or | int: %s" % (name, bare)


def defaults(role):
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def role_vars(role):
    path = ROOT / "roles" / role / "vars" / "main.yml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES)
def test_the_defaults_and_the_argument_spec_list_the_same_variables_with_the_same_values(role):
    options = spec(role)["main"]["options"]
    shared = sorted(name for name in options if name.startswith("pgtrail_"))
    assert sorted(defaults(role)) == sorted(set(options) - set(shared))
    for name, value in defaults(role).items():
        assert options[name].get("default") == value, name


SHARED = {
    "pgtrail_connection": ("pgaudit_connection", "audit_triggers_connection"),
    "pgtrail_become_user": ("pgaudit_become_user", "audit_triggers_become_user"),
    "pgtrail_install_packages": ("pgaudit_install_packages", "audit_triggers_install_packages"),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(SHARED))
def test_a_shared_variable_is_read_under_its_one_name_then_its_old_ones_then_its_documented_default(role, name):
    option = spec(role)["main"]["options"][name]
    resolution = " ".join(role_vars(role)[read_as(role, name)].split())
    chain = [name] + list(SHARED[name])
    expected = " | ".join([chain[0]] + ["default(%s)" % n for n in chain[1:]])
    assert resolution.startswith("{{ %s | default(" % expected), resolution
    assert yaml.safe_load(resolution.rsplit("default(", 1)[1].rsplit(")", 1)[0]) == option["default"]
    for old in SHARED[name]:
        assert old in " ".join(option["description"]), "the spec names the deprecated %s" % old


def test_the_shared_names_are_the_ones_the_controller_checks():
    import importlib

    scope = importlib.import_module("ansible_collections.pgtrail.audit.plugins.module_utils.pgaudit_scope")
    assert dict((k, v) for k, v in scope.NAME_ALIASES.items() if k in SHARED) == SHARED
