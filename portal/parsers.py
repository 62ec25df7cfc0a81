"""The APIs' JSON parser: refuses what Python's `json` would choke on before it parses.

Python's `json` recurses once per nesting level (a few kilobytes of brackets are a
RecursionError), reads 1e400 as infinity and keeps the last of two equal keys.
"""

import json
import math
import re
from collections import Counter

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

MAX_DEPTH = 32

# JSON reduced to what nesting is made of: quotes, and brackets of both kinds as one kind.
_TO_BRACKETS = bytes(range(256)).replace(b"{", b"[").replace(b"}", b"]")
_NOT_BRACKETS_OR_QUOTES = bytes(c for c in range(256) if c not in b'"[]{}')


def _nested_at_most(levels):
    """A pattern for a skeleton whose arrays and objects nest at most `levels` deep, with
    every string closed. Possessive: nothing is read twice, nothing kept to backtrack."""
    pattern = rb'(?:"[^"]*+")*+'
    for _ in range(levels):
        pattern = rb'(?:"[^"]*+"|\[' + pattern + rb"\])*+"
    return re.compile(pattern)


_WITHIN_DEPTH = _nested_at_most(MAX_DEPTH)


def _skeleton(data: bytes) -> bytes:
    # Escaped backslashes, then escaped quotes go; a string is then "..." whatever it held.
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Two adjacent quotes can go without moving anything in or out of a string.
    return data.translate(_TO_BRACKETS, _NOT_BRACKETS_OR_QUOTES).replace(b'""', b"")


def check_nesting(data: bytes):
    """Refuse (ParseError) JSON text nested deeper than MAX_DEPTH, counting `[` and `{`
    outside strings, in C and in linear time (about 0.1 s a megabyte at worst)."""
    skeleton = _skeleton(data)
    if _WITHIN_DEPTH.fullmatch(skeleton):
        return
    if skeleton.count(b"[") != skeleton.count(b"]") or skeleton.count(b'"') % 2:
        raise ParseError("JSON parse error - brackets or quotes do not balance.")
    raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")


class RequestBodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(f"The request body is larger than {limit:,} bytes.")


def _finite_float(text):
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"Number {text} is out of range.")
    return number


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number; send numbers as decimal strings.")


def _object_without_duplicate_keys(pairs):
    data = dict(pairs)
    if len(data) < len(pairs):
        counts = Counter(key for key, _ in pairs)
        duplicate = next(key for key, count in counts.items() if count > 1)
        raise ValueError(f"Duplicate key {duplicate[:64]!r} in an object.")
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with limits: size, nesting depth, finite numbers, unique keys."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        data = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise RequestBodyTooLarge()
        check_nesting(data)
        # Once escaped backslashes are gone, \u0000 is a NUL: PostgreSQL stores none.
        if b"\\u0000" in data.replace(b"\\\\", b""):
            raise ParseError("JSON strings may not contain NUL (\\u0000).")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(
                data.decode(encoding),
                parse_float=_finite_float,
                parse_constant=_refuse_constant,
                object_pairs_hook=_object_without_duplicate_keys,
            )
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
