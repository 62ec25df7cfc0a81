"""Evidence files: identified by their content, never by their name or the browser's content
type (SPEC §4); a ValidationError says why a file is refused."""

import bisect
import csv
import io
import itertools
import re
import warnings
import zlib

import puremagic
from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image

EVIDENCE_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "text/csv": "csv",
}
REFUSED = "Evidence must be a PDF, CSV, PNG or JPEG file."

# What the file-type library's name for a refused file tells the customer; the first
# keyword found in a match's content type, extension or description wins.
REFUSED_KINDS = [
    (("svg",), "an SVG image"),
    (("html",), "an HTML page"),
    (("zip", "officedocument", "opendocument", "msword", "ms-excel", "ms-powerpoint"),
     "a ZIP archive or an Office document"),
    (("xml",), "an XML document"),
    (("executable", "msdownload", ".exe", ".dll", ".msi"), "a program"),
    (("image/",), "an image, but not a PNG or JPEG"),
]  # fmt: skip

# PDF names that run code, open other programs or carry files: refused as hardening.
PDF_ACTIVE_NAMES = {"JavaScript", "JS", "Launch", "EmbeddedFile", "EmbeddedFiles", "XFA",
                    "RichMedia"}  # fmt: skip
PDF_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
PDF_OBJECT = re.compile(rb"\d+\s+\d+\s+obj\b")
PDF_STREAM = re.compile(rb"\bstream(?:\r\n|\n|\r)")
PDF_FILTERS = {"FlateDecode", "Fl", "ASCIIHexDecode", "AHx", "ASCII85Decode", "A85",
               "LZWDecode", "LZW", "RunLengthDecode", "RL", "Crypt"}  # fmt: skip
PDF_INFLATED_LIMIT = 64 * 1024 * 1024  # object streams are small; more is a zip bomb

CSV_DELIMITERS = [",", ";", "\t"]
# `<` then a letter, `/`, `!` or `?`: a tag, a closing tag, a comment or doctype, an XML
# processing instruction.
CSV_MARKUP = re.compile(r"<[A-Za-z/!?]")
CSV_TAG = re.compile(r"<[/?!]?[A-Za-z][\w:.-]*")
CSV_FORMULA_START = frozenset("=+-@")
# A number may start with a sign: -3.5, -1,234.50, -€3, +44 20 7946 0958, -12%.
CSV_NUMBER = re.compile(
    r"[+-]?[$€£¥]?(?:\d(?:[\d.,' \u00a0\u202f]*\d)?|[.,]\d+)(?:[eE][+-]?\d+)?%?"
)
# Tabs, line breaks and the spaces of Unicode (no-break, thin, ideographic) count as printable;
# other separators and control or format characters (bidirectional overrides) do not.
CSV_SPACING = str.maketrans(dict.fromkeys(
    "\t\r\n\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000", " ",
))  # fmt: skip


def refused(reason=""):
    return ValidationError(f"{REFUSED} {reason}".strip(), code="evidence_refused")


def evidence_identify(data: bytes) -> str:
    """The content type of the evidence `data` (PDF, PNG, JPEG or CSV), or a ValidationError
    saying why it is refused.

    The file-type library names binary formats by their signatures and the format's own
    structure must agree; a CSV is recognised by parsing it strictly, as no signature marks
    one."""
    if not data:
        raise refused("The file is empty.")
    try:
        matches = puremagic.magic_string(data)
    except puremagic.PureError:
        matches = []
    claimed = {m.mime_type for m in matches} & {"application/pdf", "image/png", "image/jpeg"}
    if len(claimed) > 1:
        raise refused("The file claims to be more than one type.")
    if claimed == {"application/pdf"}:
        _check_pdf(data)
        return "application/pdf"
    if claimed:
        (content_type,) = claimed
        _check_image(data, content_type)
        return content_type
    try:
        _check_csv(data)
    except _NotText as problem:
        raise refused(_refused_kind(matches) or problem.reason) from None
    return "text/csv"


def _refused_kind(matches):
    # Two- and three-byte signatures match ordinary text too often to name a file by them.
    for match in (m for m in matches if m.confidence >= 0.4):
        described = f"{match.mime_type} {match.extension} {match.name}".lower()
        for keywords, kind in REFUSED_KINDS:
            if any(keyword in described for keyword in keywords):
                return f"This file is {kind}."
    return None


def _check_image(data, content_type):
    label = {"image/png": "PNG", "image/jpeg": "JPEG"}[content_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[label]) as image:
                image.verify()  # a PNG's chunks and their checksums
            if label == "JPEG":
                # Decoding at an eighth of the size reads every part of the file cheaply.
                with Image.open(io.BytesIO(data), formats=[label]) as image:
                    image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
                    image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise refused(f"This {label} image has too many pixels.") from None
    except Exception:  # Pillow raises many kinds of error for a damaged file
        raise refused(f"This {label} image is damaged or incomplete.") from None


def _pdf_names(data):
    """The names in PDF source `data`, with their #xx escapes decoded (`/J#61vaScript` is
    `/JavaScript` to a PDF reader)."""
    for match in PDF_NAME.finditer(data):
        name = PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        yield name.decode("latin-1")


def _check_pdf(data):
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
        raise refused("This PDF is damaged or incomplete.")
    names = set(_pdf_names(data))
    if "Encrypt" in names:
        raise refused(
            "This PDF is encrypted, so its content cannot be checked. Please upload a copy "
            "without a password or encryption."
        )
    for objects in _pdf_object_streams(data):
        names.update(_pdf_names(objects))
    active = sorted(names & PDF_ACTIVE_NAMES)
    if active:
        raise refused(
            f"This PDF contains scripts, launch actions or embedded files (/{active[0]}), "
            "which evidence may not contain."
        )


def _pdf_object_streams(data):
    """The decompressed content of the PDF's object streams, where compressed PDFs keep
    their dictionaries (and so any action)."""
    starts = [match.start() for match in PDF_OBJECT.finditer(data)]
    inflated = 0
    for stream in PDF_STREAM.finditer(data):
        before = bisect.bisect_left(starts, stream.start())
        if before == 0:
            continue
        dictionary = list(_pdf_names(data[starts[before - 1] : stream.start()]))
        if "ObjStm" not in dictionary:
            continue
        filters = [name for name in dictionary if name in PDF_FILTERS]
        end = data.find(b"endstream", stream.end())
        raw = data[stream.end() : end if end != -1 else len(data)]
        if not filters:
            yield raw
            continue
        if filters not in (["FlateDecode"], ["Fl"]) or {"DecodeParms", "DP"} & set(dictionary):
            raise refused("This PDF's compressed objects cannot be checked.")
        inflater = zlib.decompressobj()
        try:
            objects = inflater.decompress(raw, PDF_INFLATED_LIMIT - inflated)
        except zlib.error:
            raise refused("This PDF is damaged or incomplete.") from None
        inflated += len(objects)
        if inflater.unconsumed_tail or inflated >= PDF_INFLATED_LIMIT:
            raise refused("This PDF's compressed objects are too large to be checked.")
        yield objects


class _NotText(Exception):
    """The file is not text at all, or is markup: the file-type library may know what it is."""

    def __init__(self, reason):
        self.reason = reason


def _check_csv(data):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _NotText(
            "This file is not a PDF, PNG or JPEG, nor a CSV saved as UTF-8 text."
        ) from None
    visible = text.translate(CSV_SPACING)
    if not visible.isprintable():
        bad = next(ch for ch in visible if not ch.isprintable())
        raise _NotText(f"This CSV contains a character that is not printable (U+{ord(bad):04X}).")
    markup = CSV_MARKUP.search(text)
    if markup:
        tag = CSV_TAG.match(text, markup.start())
        shown = f"{tag.group()}>" if tag else text[markup.start() : markup.start() + 4]
        raise _NotText(f"This CSV contains markup ({shown}), which evidence may not contain.")
    rows = _csv_rows(text)
    # A sign starts many a number: the few cells that start like a formula are looked at.
    cells = itertools.chain.from_iterable(rows)
    for value in (cell.strip() for cell in cells if cell.lstrip()[:1] in CSV_FORMULA_START):
        if value != "-" and not CSV_NUMBER.fullmatch(value):  # "-" often marks no value
            shown = value if len(value) <= 24 else f"{value[:24]}…"
            raise refused(
                f"This CSV has a cell that starts like a spreadsheet formula ({shown}), "
                "which evidence may not contain."
            )


def _csv_rows(text):
    """The non-blank rows of `text` read as a CSV separated by commas, semicolons or tabs
    (the sniffed separator first): the first reading with two or more columns in every row,
    or a ValidationError saying what is wrong with the likeliest one."""
    sample = text[: 64 * 1024]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    delimiters = list(CSV_DELIMITERS)
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(CSV_DELIMITERS)).delimiter
        delimiters.sort(key=lambda delimiter: delimiter != sniffed)
    except csv.Error:
        pass
    problems = []
    for delimiter in delimiters:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        try:
            rows = list(filter(None, reader))  # without blank lines
        except csv.Error:
            problems.append(
                f"This CSV has a misplaced quote or an overlong cell (line {reader.line_num})."
            )
            continue
        widths = set(map(len, rows))
        if len(widths) == 1 and widths != {1}:
            return rows
        if len(widths) > 1:
            problems.append("The rows of this CSV have different numbers of columns.")
    raise refused(
        problems[0]
        if problems
        else "A CSV needs at least two columns, separated by commas, semicolons or tabs."
    )


def sniff_evidence(upload):
    """The evidence's real content type (PDF, PNG, JPEG or CSV), or a ValidationError."""
    limit = settings.EVIDENCE_MAX_BYTES
    too_large = ValidationError(f"The file is larger than {limit // (1024 * 1024)} MB.")
    if (upload.size or 0) > limit:
        raise too_large
    upload.seek(0)
    data = upload.read(limit + 1)  # the whole file, however its size was reported
    upload.seek(0)
    if len(data) > limit:
        raise too_large
    return evidence_identify(data)


def evidence_original_name(name) -> str:
    """The customer's name for the file, kept as text only: no folders, nothing unprintable,
    at most 255 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable()).strip()[:255]
