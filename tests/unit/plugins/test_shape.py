"""The plugins' shape, measured on the tree (issue 13): no file over 700 lines and no function
over 80, so that each job keeps a file a newcomer can read and a function a reviewer can hold."""

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
FILES = sorted(PLUGINS.rglob("*.py"))
MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 80


def name(path):
    return str(path.relative_to(PLUGINS))


@pytest.mark.parametrize("path", FILES, ids=name)
def test_no_file_is_over_700_lines_nor_any_function_over_80(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_FILE_LINES
    long = [
        "%s (line %d): %d lines" % (node.name, node.lineno, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long


ROOT = PLUGINS.parent
MODULES = sorted(p.stem for p in (PLUGINS / "modules").glob("*.py") if p.stem != "__init__")
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def test_the_readme_names_every_module_and_every_role_where_it_says_how_to_read_their_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [m for m in MODULES if "`%s`" % m not in readme]
    missing += [r for r in ROLES if "ansible-doc -t role pgtrail.audit.%s`" % r not in readme]
    assert not missing, "README.md does not name: %s" % ", ".join(missing)
