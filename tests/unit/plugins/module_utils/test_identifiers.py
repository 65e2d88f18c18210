"""Names read as PostgreSQL reads them (scan.l, scansup.c): folding, quoting, the 63-byte limit."""

import pytest

from ansible_collections.pgtrail.audit.plugins.module_utils import identifiers as ident

LONG = "x" * 64


@pytest.mark.parametrize(
    "text, parts",
    [
        # unquoted: ASCII letters fold, nothing else does (downcase_identifier, multi-byte encoding)
        ("payments", ("payments",)),
        ("ABC", ("abc",)),
        ("Finance.Payments", ("finance", "payments")),
        ("public.Äpfel", ("public", "Äpfel")),
        ("public.ÄPFEL", ("public", "Äpfel")),
        ("ÆØÅ_Straße", ("ÆØÅ_straße",)),
        ("İstanbul", ("İstanbul",)),  # str.lower() would give 'i̇stanbul'
        ("ΣΊΣΥΦΟΣ.Tab", ("ΣΊΣΥΦΟΣ", "tab")),
        ("_t$1", ("_t$1",)),
        ("Ünïcødé", ("Ünïcødé",)),
        # SQL white space around names and dots
        ("  public . t\t", ("public", "t")),
        ("public\n.\nT", ("public", "t")),
        # quoted: case, dots, spaces and doubled quotes kept
        ('"MixedCase"', ("MixedCase",)),
        ('"Finance"."Payments"', ("Finance", "Payments")),
        ('"we.ird"."ta ble"', ("we.ird", "ta ble")),
        ('"a.b"."c ""d"""', ("a.b", 'c "d"')),
        ('""""', ('"',)),
        ('public."Ünïcødé tåble"', ("public", "Ünïcødé tåble")),
        ('"x; DROP TABLE y; --"', ("x; DROP TABLE y; --",)),
        ('" leading and trailing "', (" leading and trailing ",)),
        ('Sales."Big Orders"', ("sales", "Big Orders")),
        ('"a"."b"."c"', ("a", "b", "c")),
        # 63 bytes is the longest name; a multi-byte character counts its bytes
        ("x" * 63, ("x" * 63,)),
        ("ü" * 31 + "x", ("ü" * 31 + "x",)),
        ('"%s"' % ("€" * 21), ("€" * 21,)),
    ],
)
def test_parse_reads_names_as_postgresql_does(text, parts):
    assert ident.parse(text) == parts


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty identifier in ''"),
        ("   ", "empty identifier in '   '"),
        ("a..b", "empty identifier in 'a..b'"),
        ("a.", "empty identifier in 'a.'"),
        ("public.t.", "empty identifier in 'public.t.'"),
        (".a", "empty identifier in '.a'"),
        ('""', 'zero-length quoted identifier "" in \'""\''),
        ('public.""', "zero-length quoted identifier"),
        ('"unterminated', "unterminated quoted identifier in '\"unterminated'"),
        ('public."a""', "unterminated quoted identifier"),
        ('a"b', "'\"' cannot follow the name a in 'a\"b'"),
        ('"a"x', "'x' cannot follow the name a in '\"a\"x'"),
        ('"a""b"c', "cannot follow the name"),
        ("my table", "'t' cannot follow the name my in 'my table'"),
        ("a-b", "'-' cannot follow the name a"),
        ("a;b", "';' cannot follow the name a"),
        ("1abc", "'1' cannot start an unquoted name"),
        ("$x", "'$' cannot start an unquoted name"),
        ("public.1t", "'1' cannot start an unquoted name"),
        ('U&"d\\0061t"', 'U&"..." escapes are not supported'),
        (LONG, "name %s is 64 bytes, longer than the 63 PostgreSQL keeps; it would store %s" % (LONG, "x" * 63)),
        # cut on a character boundary, as truncate_identifier does: 32 ü are 64 bytes, 31 are kept
        ("ü" * 32, 'is 64 bytes, longer than the 63 PostgreSQL keeps; it would store "%s"' % ("ü" * 31)),
        # 22 euro signs are 66 bytes: 21 (63 bytes) are kept
        (
            'public."%s"' % ("€" * 22),
            'is 66 bytes, longer than the 63 PostgreSQL keeps; it would store "%s"' % ("€" * 21),
        ),
        # the name folded first, then cut: what CREATE TABLE would really name the table
        ("A" * 70, "it would store %s" % ("a" * 63)),
        ('"nul\x00"', "holds a NUL character"),
    ],
)
def test_parse_refuses_what_postgresql_would_refuse_or_change_and_names_the_input(text, message):
    with pytest.raises(ValueError) as err:
        ident.parse(text, "table")
    assert message in str(err.value)


@pytest.mark.parametrize("bad", [None, 5, ["public", "t"], {"name": "t"}])
def test_only_strings_are_names(bad):
    with pytest.raises(ValueError, match="is not a string"):
        ident.parse(bad, "table")
    with pytest.raises(ValueError, match="is not a string"):
        ident.check(bad, "role")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("payments", ("public", "payments")),
        ("public.Äpfel", ("public", "Äpfel")),
        ('"we.ird"."ta ble"', ("we.ird", "ta ble")),
        ('"we.ird"', ("public", "we.ird")),
    ],
)
def test_parse_qualified(text, expected):
    assert ident.parse_qualified(text) == expected


def test_parse_qualified_takes_at_most_two_parts_and_a_default_schema():
    assert ident.parse_qualified("t", default_schema=None) == (None, "t")
    with pytest.raises(ValueError, match=r"expected table or schema\.table, got 'a\.b\.c'"):
        ident.parse_qualified("a.b.c")


@pytest.mark.parametrize(
    "text, expected",
    [("Card", "card"), ('"CVV"', "CVV"), ('"x.y"', "x.y"), ("Äpfel", "Äpfel"), ('"a""b"', 'a"b')],
)
def test_parse_single(text, expected):
    assert ident.parse_single(text, "column") == expected


def test_parse_single_refuses_a_dot_outside_quotes():
    with pytest.raises(
        ValueError, match=r"column 'x\.y' must be a single name \(double-quote a name that holds a dot\)"
    ):
        ident.parse_single("x.y", "column")


@pytest.mark.parametrize(
    "parts, shown",
    [
        (("public", "orders"), "public.orders"),
        (("public", "Äpfel"), 'public."Äpfel"'),
        (("public", "äpfel"), 'public."äpfel"'),
        (("public", "MixedCase"), 'public."MixedCase"'),
        (("we.ird", "ta ble"), '"we.ird"."ta ble"'),
        (("s", 'a"b'), 's."a""b"'),
        (("s", "t$"), 's."t$"'),
        (("s", "1t"), 's."1t"'),
        (("_s", "t_1"), "_s.t_1"),
        (("col",), "col"),
    ],
)
def test_render_quotes_what_would_not_read_back_and_parse_reads_it_back(parts, shown):
    assert ident.render(*parts) == shown
    assert ident.parse(shown) == parts


@pytest.mark.parametrize(
    "name, problem",
    [
        ("app", None),
        ("App Role", None),  # catalog names are taken as stored: case and spaces kept
        ("x" * 63, None),
        ("", "empty name"),
        (LONG, "it would store %s" % ("x" * 63)),
        ("Ä" * 32, 'it would store "%s"' % ("Ä" * 31)),
    ],
)
def test_catalog_names_are_checked_not_folded(name, problem):
    if problem is None:
        assert ident.check(name, "role") == name
    else:
        with pytest.raises(ValueError) as err:
            ident.check(name, "role")
        assert str(err.value).startswith("role %r: " % name)
        assert problem in str(err.value)


@pytest.mark.parametrize(
    "name, stored",
    [
        ("x" * 63, "x" * 63),
        ("x" * 64, "x" * 63),
        ("ü" * 40, "ü" * 31),
        ("a" + "€" * 30, "a" + "€" * 20),
        ("😀" * 16, "😀" * 15),
    ],
)
def test_truncate_cuts_at_63_bytes_on_a_character_boundary(name, stored):
    assert ident.truncate(name) == stored
    assert len(ident.truncate(name).encode("utf-8")) <= 63


def test_fold_lowers_ascii_letters_only():
    assert ident.fold("ABCxyzÄÖÜÉİΣ") == "abcxyzÄÖÜÉİΣ"
