"""The documentation, executed: scripts/demo runs to its end, and every fenced block of README.md
and of the pages in docs/ runs where its marker says, so the docs and the code cannot part ways
unnoticed (a snippet moved from the README to a page stays tested).

Each fenced block is preceded by an HTML comment saying how it is tested (docs/testing.md lists
the kinds):

    <!-- readme-test: sh -->                 each command runs in the user's project
    <!-- readme-test: psql db=finance -->    the SQL runs with psql on the project's hosts
    <!-- readme-test: group_vars -->         checked by both roles' argument specs and the
                                             pgaudit role's validator, on the controller
    <!-- readme-test: playbook -->           run with ansible-playbook -i inventory
    <!-- readme-test: tasks -->              run after the role's validate step (pgaudit_scope)
                                             and audit_info (registered as `audit`)
    <!-- readme-test: output -->             each line is in scripts/demo's output (`...` stands
                                             for any text, a number for any number)
    <!-- readme-test: paths -->              the first word of each line is a path of the checkout
    <!-- readme-test: skip reason="..." -->  not run, for the reason given

A block with no marker, or with a kind this file does not know, fails.

The user's project is a copy of the checkout's files (a fresh clone, with its own ansible.cfg)
plus `inventory/`: one host of the demo fleet (PostgreSQL 17) with the example group_vars. The
blocks run in order, README.md first, then the pages of docs/ (ORDER), so the README's install
step comes before the commands that use the installed collection. Pages a tool writes (GENERATED)
are not read. The demo fleet is removed at the end (scripts/demo down).
"""

import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml
from testbed import ROOT, docker

README = ROOT / "README.md"
DOCS = ROOT / "docs"
# The order the pages run in, as the README's documentation list reads them (pages not listed
# follow by name): trail.md's UPDATE of public.payments runs before operations.md publishes the
# schema public, after which PostgreSQL refuses UPDATEs of a table with no replica identity.
ORDER = ("site.md", "trail.md", "operations.md", "chain.md", "evidence.md", "architecture.md", "testing.md")
# Pages a tool writes, with the tool: their blocks are its output, not instructions to run.
GENERATED = {"docs/benchmarks.md": "benchmarks/run"}
HOST = "pgtrail-demo-pg17"
KINDS = {"sh", "psql", "group_vars", "playbook", "tasks", "output", "paths", "skip"}
# Fences and markers may be indented (a block inside a list item).
MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(?P<spec>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")


class Block:
    def __init__(self, line, lang, text, marker, source="README.md"):
        self.line, self.lang, self.text, self.source = line, lang, text, source
        self.kind, self.options = None, {}
        if marker is not None:
            words = shlex.split(marker)
            self.kind = words[0] if words else None
            self.options = dict(word.split("=", 1) for word in words[1:] if "=" in word)

    def __repr__(self):
        return "%s:%d (%s)" % (self.source, self.line, self.kind or "no marker")


def readme_blocks(text, source="README.md"):
    """Every fenced block with the marker on the line before it (blank lines allowed between)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        marker = MARKER.match(lines[j]) if j >= 0 else None
        end = i + 1
        indent = fence.group("indent")
        while end < len(lines) and not lines[end].startswith(indent + "```"):
            end += 1
        body = "\n".join(line[len(indent) :] for line in lines[i + 1 : end]) + "\n"
        blocks.append(Block(i + 1, fence.group("lang"), body, marker.group("spec") if marker else None, source))
        i = end + 1
    return blocks


def documentation_pages():
    """README.md, then every page of docs/ in ORDER, less the pages a tool writes."""
    ranked = sorted(DOCS.glob("*.md"), key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name))
    pages = [README] + ranked
    return [page for page in pages if page.relative_to(ROOT).as_posix() not in GENERATED]


def documentation_blocks():
    blocks = []
    for page in documentation_pages():
        blocks.extend(readme_blocks(page.read_text(), page.relative_to(ROOT).as_posix()))
    return blocks


BLOCKS = documentation_blocks()


def test_the_extractor_reads_markers_and_refuses_unmarked_blocks():
    sample = (
        "text\n<!-- readme-test: psql db=finance -->\n```sql\nSELECT 1;\n```\n\n"
        '```sh\nls\n```\n<!-- readme-test: skip reason="a file tree" -->\n\n```\na\n```\n'
        "- item\n\n  ```sql\n  SELECT 2;\n  ```\n"
    )
    first, second, third, fourth = readme_blocks(sample)
    assert (first.kind, first.options, first.text) == ("psql", {"db": "finance"}, "SELECT 1;\n")
    assert second.kind is None
    assert (third.kind, third.options) == ("skip", {"reason": "a file tree"})
    assert (fourth.kind, fourth.text) == (None, "SELECT 2;\n")
    (page_block,) = readme_blocks("<!-- readme-test: sh -->\n```sh\nls\n```\n", "docs/trail.md")
    assert repr(page_block) == "docs/trail.md:2 (sh)"


def test_the_pages_of_docs_are_read_and_only_generated_pages_are_left_out():
    read = {page.relative_to(ROOT).as_posix() for page in documentation_pages()}
    pages = {page.relative_to(ROOT).as_posix() for page in DOCS.glob("*.md")}
    assert "README.md" in read
    assert pages - read == set(GENERATED), "pages of docs/ whose blocks are not run: %s" % sorted(
        pages - read - set(GENERATED)
    )
    for page, tool in GENERATED.items():
        assert "Written by %s" % tool in (ROOT / page).read_text(), "%s does not say %s writes it" % (page, tool)
    assert {block.source for block in BLOCKS} >= {"README.md"} | {p for p in read if "```" in (ROOT / p).read_text()}


def test_every_block_of_the_readme_says_how_it_is_tested():
    unmarked = [b for b in BLOCKS if b.kind not in KINDS]
    assert not unmarked, "fenced blocks without a known <!-- readme-test: KIND --> marker (kinds: %s): %s" % (
        ", ".join(sorted(KINDS)),
        unmarked,
    )
    unexplained = [b for b in BLOCKS if b.kind == "skip" and not b.options.get("reason")]
    assert not unexplained, 'skip markers need reason="...": %s' % unexplained


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def slug(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page):
    return {slug(line.lstrip("#")) for line in page.read_text().splitlines() if re.match(r"^#{1,6} ", line)}


def test_the_links_between_the_pages_reach_a_file_and_a_heading():
    assert slug("Why the trail does not use pg_partman") == "why-the-trail-does-not-use-pg_partman"
    assert slug("pgaudit on every host: what `site.yml` does") == "pgaudit-on-every-host-what-siteyml-does"
    broken = []
    for page in documentation_pages():
        for match in LINK.finditer(page.read_text()):
            target = match.group("target")
            if re.match(r"^[a-z]+:", target):
                continue
            path, _hash, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
                broken.append("%s: %s" % (page.relative_to(ROOT), target))
    assert not broken, "links to no file or no heading: %s" % broken


def clean_env():
    """The environment of a user in their own project: this checkout's test settings removed."""
    env = dict(os.environ)
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_STDOUT_CALLBACK"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def demo():
    """scripts/demo, run to its end; its output. The fleet is removed afterwards."""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "demo")], cwd=ROOT, capture_output=True, text=True, env=clean_env(), check=False
    )
    try:
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            pytest.fail("scripts/demo failed (rc %d):\n%s" % (proc.returncode, output[-6000:]))
        yield output
    finally:
        subprocess.run([str(ROOT / "scripts" / "demo"), "down"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def project(demo, tmp_path_factory):
    """A fresh copy of the checkout with an inventory of one demo host."""
    top = tmp_path_factory.mktemp("readme") / "project"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            (top / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, top / name)
    example = yaml.safe_load((ROOT / "examples" / "inventory" / "hosts.yml").read_text())["postgres"]
    inventory = {"postgres": {"hosts": {HOST: example["hosts"][HOST]}, "vars": example["vars"]}}
    (top / "inventory").mkdir()
    (top / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    shutil.copytree(ROOT / "examples" / "inventory" / "group_vars", top / "inventory" / "group_vars")
    return top


def run(cmd, cwd, shell=False):
    proc = subprocess.run(cmd, cwd=cwd, shell=shell, capture_output=True, text=True, env=clean_env(), check=False)
    assert proc.returncode == 0, "%s failed (rc %d):\n%s%s" % (cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def commands(text):
    """The block's commands: one per line, backslash continuations joined, comments kept out."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def run_sh(block, project):
    for command in commands(block.text):
        run(["bash", "-euo", "pipefail", "-c", command], project)


def run_psql(block, project):
    db, user = block.options.get("db", "postgres"), block.options.get("user", "postgres")
    result = docker(
        "exec", "-i", "-u", "postgres", HOST, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db,
        input=block.text, check=False,
    )  # fmt: skip
    assert result.returncode == 0, "psql on %s, database %s: %s" % (HOST, db, result.stderr)


def run_playbook_text(play, project, name):
    path = project / name
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    return run(["ansible-playbook", "-i", "inventory", str(path)], project)


def run_playbook(block, project):
    run_playbook_text(yaml.safe_load(block.text), project, "readme-playbook.yml")


def run_tasks(block, project):
    (project / "readme-tasks.yml").write_text(block.text)
    play = {
        "name": "README tasks, after the read the role makes",
        "hosts": "postgres",
        "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_role": {"name": "pgtrail.audit.pgaudit", "tasks_from": "validate.yml"}},
            {"become": True, "become_user": "postgres", "pgtrail.audit.audit_info": {}, "register": "audit"},
            {"ansible.builtin.include_tasks": str(project / "readme-tasks.yml")},
        ],
    }
    run_playbook_text([play], project, "readme-tasks-play.yml")


def run_group_vars(block, project):
    values = yaml.safe_load(block.text)
    spec = {}
    for role in ("pgaudit", "audit_triggers"):
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        spec.update(specs["argument_specs"]["main"]["options"])
    play = {
        "name": "README group_vars, checked on the controller",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": values,
        "tasks": [
            {"ansible.builtin.validate_argument_spec": {"argument_spec": spec, "provided_arguments": values}},
            {"ansible.builtin.include_role": {"name": "pgtrail.audit.pgaudit", "tasks_from": "validate.yml"}},
        ],
    }
    run_playbook_text([play], project, "readme-group-vars.yml")


def output_pattern(line):
    """A sample line as a pattern: `...` is any text, a number any number, spacing free."""
    parts = []
    for piece in re.split(r"(\.\.\.|\d+|\s+)", line.strip()):
        if piece == "...":
            parts.append(".*")
        elif piece.isdigit():
            parts.append(r"\d+")
        elif piece.isspace():
            parts.append(r"\s+")
        elif piece:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def run_output(block, demo):
    lines = [line.strip() for line in demo.splitlines()]
    missing = [
        sample
        for sample in block.text.splitlines()
        if sample.strip() and not any(output_pattern(sample).fullmatch(line) for line in lines)
    ]
    assert not missing, "lines of the sample at %r that scripts/demo does not print: %s" % (block, missing)


def run_paths(block):
    listed = [line.split()[0].rstrip(",") for line in block.text.splitlines() if line.strip()]
    missing = [path for path in listed if not (ROOT / path).exists()]
    assert not missing, "paths %r lists that the checkout does not have: %s" % (block, missing)


RUNNERS = {
    "sh": run_sh,
    "psql": run_psql,
    "group_vars": run_group_vars,
    "playbook": run_playbook,
    "tasks": run_tasks,
    "output": run_output,
    "paths": run_paths,
}


def test_the_demo_runs_to_the_report(demo):
    assert "the evidence for auditors" in demo
    assert "HTML report:" in demo
    assert "ERROR" not in demo


@pytest.mark.parametrize(
    "block", BLOCKS, ids=lambda b: "%s-line%d-%s" % (b.source.rsplit("/", 1)[-1], b.line, b.kind or "unmarked")
)
def test_the_readme_block_runs(block, request):
    if block.kind == "skip":
        pytest.skip("%s:%d is not run: %s" % (block.source, block.line, block.options.get("reason")))
    if block.kind not in RUNNERS:
        pytest.fail("%r has no known readme-test marker" % block)
    if block.kind == "paths":
        RUNNERS["paths"](block)
    elif block.kind == "output":
        RUNNERS["output"](block, request.getfixturevalue("demo"))
    else:
        RUNNERS[block.kind](block, request.getfixturevalue("project"))


def test_the_quick_start_writes_the_report_beside_the_inventory_directory_not_in_it(project):
    """Runs after every block of the README (this file's tests run in order): the report of the
    quick start is in report/ next to inventory/, and inventory/ holds only what the user put
    there (a report inside it became a host named "{" and a group "summary")."""
    assert (project / "report" / "fleet-report.json").is_file()
    inventory = project / "inventory"
    assert sorted(path.name for path in inventory.iterdir()) == ["group_vars", "hosts.yml"]
