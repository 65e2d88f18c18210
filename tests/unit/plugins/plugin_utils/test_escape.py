"""Values from a host, escaped for Markdown and the terminal (plugin_utils.escape)."""

import html
import re

import pytest

from ansible_collections.pgtrail.audit.plugins.plugin_utils.escape import markdown, plain

# Names PostgreSQL accepts (quoted) that a careless report turns into markup or terminal commands.
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "a|b",
    "line\nbreak",
    "cr\rreturn",
    "tab\there",
    "back`tick",
    "``two``",
    "\x1b[31mred\x1b[0m",
    "\x07bell\x00nul\x7fdel\x9bcsi",
    "# heading",
    "> quote",
    "- item",
    "1. item",
    "*bold* _em_ ~~strike~~",
    "[link](http://example.invalid)",
    "![img](x)",
    "&amp; &lt;b&gt;",
    "trailing\\",
    "back\\|slash",
    "\\n is not a newline",
    "rtl\u202eevil\u202c",
    "line\u2028sep",
    "ledger_2026",
    "_lead and trail_",
    "$x^2$ math",
    "",
]

# A backslash pair (an escaped character, as CommonMark reads it), or one character.
TOKEN = re.compile(r"\\.|.", re.S)
PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def cells(row):
    """A GitHub table row's cells, split where GitHub splits them: at a | with no backslash before it."""
    found = [""]
    for token in TOKEN.findall(row):
        if token == "|":
            found.append("")
        else:
            found[-1] += token
    return found[1:-1]


def unescaped_markup(text):
    """The characters of ``text`` that CommonMark could read as markup: unescaped <, &, `, *, [, |, newline."""
    return [t for t in TOKEN.findall(text) if t in ("<", "&", "`", "*", "[", "]", "|", "~", "$", "\n", "\r")]


def rendered_text(text):
    """What a reader sees: each backslash-escaped punctuation character as itself."""
    return "".join(t[1] if len(t) == 2 and t[1] in PUNCTUATION else t for t in TOKEN.findall(text))


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_prints_on_the_terminal_without_a_control_character(name):
    printed = plain(name)
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", printed)
    for char in name:
        if char.isprintable() and char != "\\":
            assert char in printed


def test_the_terminal_escapes_are_the_familiar_ones_and_no_two_names_print_the_same():
    assert plain("a\nb\tc\x1b[0m\u202e") == "a\\nb\\tc\\x1b[0m\\u202e"
    assert plain("\\n") == "\\\\n" != plain("\n")
    assert len({plain(name) for name in HOSTILE}) == len(HOSTILE)
    assert plain(None) == "" and plain(15) == "15"


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_in_a_table_cell_keeps_the_table_and_renders_as_itself(name):
    escaped = markdown(name)
    row = "| %s | postgres |" % escaped
    assert "\n" not in row and cells(row) == [" %s " % escaped, " postgres "]
    assert unescaped_markup(escaped) == []
    assert rendered_text(escaped) == plain(name)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_renders_as_itself_in_a_markdown_library_too(name):
    markdown_it = pytest.importorskip("markdown_it")
    render = markdown_it.MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    rendered = render.render("| Database | Owner |\n| --- | --- |\n| %s | postgres |\n" % markdown(name))
    assert set(re.findall(r"<(/?\w+)", rendered)) <= {
        "table", "/table", "thead", "/thead", "tbody", "/tbody", "tr", "/tr", "th", "/th", "td", "/td"
    }  # fmt: skip
    body = rendered.split("<tbody>")[1]
    assert body.count("<tr>") == 1 and body.count("<td>") == 2
    assert html.unescape(re.search(r"<td>(.*?)</td>", body, re.S).group(1)) == plain(name)
    for line in ("### %s", "Not read: %s"):
        if name:
            paragraph = render.render(line % markdown(name))
            assert paragraph.count("<") == 2, paragraph


def test_names_without_markup_stay_readable():
    for name in ("pgtrail-demo-pg15", "ledger_2026", "public.payments", "15.18 primary", "1.7.0-2"):
        assert markdown(name) == name
