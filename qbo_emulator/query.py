"""The QBO query language: tokenizer, recursive-descent parser and evaluator (API.md §3.2, §11 item 8).

``run_query(sql, rows_for)`` answers a ``SELECT`` exactly as QBO's ``/query`` endpoint does; ``QueryError`` carries
the ``Message``/``Detail`` of the 400 fault code 4001 the caller sends back. Pure standard library: the grammar is
small enough that a hand-written parser is clearer than a parser-generator dependency.

Grammar (keywords, entity and property names and string values are case-insensitive)::

    statement  := SELECT selection FROM entity clause* EOF
    selection  := COUNT '(' '*' ')' | '*' (',' path)* | path (',' path)*
    clause     := WHERE condition (AND condition)*
                | (ORDERBY | ORDER BY) path [ASC|DESC] (',' path [ASC|DESC])*
                | STARTPOSITION integer | MAXRESULTS integer        -- each clause at most once, in any order
    condition  := path ('=' | '<' | '>' | '<=' | '>=') value | path IN '(' value (',' value)* ')' | path LIKE string
    value      := 'string' | number | TRUE | FALSE | CURRENT_DATE
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from .facts import ALL_ENTITIES as ENTITIES
from .facts import COMPANY_TZ, DOCUMENTED_FIELDS, FACTS, NAME_LIST_ENTITIES, URL_NAMES

__all__ = [
    "ENTITIES",
    "NAME_LIST_ENTITIES",
    "Query",
    "QueryError",
    "canonical_entity",
    "default_sort_key",
    "parse",
    "run_query",
]

DEFAULT_MAX_RESULTS = 100
MAX_MAX_RESULTS = 1000

# ENTITIES, NAME_LIST_ENTITIES (inactive rows hidden unless the WHERE clause names ``Active``, API.md §3.4) and
# DOCUMENTED_FIELDS (what a filter may name even when no stored row carries it) come from the facts table (facts.py).
_ENTITY_BY_LOWER = URL_NAMES

#: Properties QBO documents but refuses in WHERE ("property 'X' is not queryable", 4001). Vendor: the list quoted
#: with the real XML fault in ruckus/quickbooks-ruby#403 (2017); Customer.AcctNum: intuit/QuickBooks-V3-DotNET-SDK#163.
NOT_FILTERABLE: dict[str, frozenset[str]] = {
    "Vendor": frozenset(
        {
            "Title",
            "PrimaryPhone",
            "AlternatePhone",
            "Mobile",
            "Fax",
            "PrimaryEmailAddr",
            "WebAddr",
            "BillAddr",
            "OtherContactInfo",
            "TaxIdentifier",
            "TermRef",
            "Balance",
            "AcctNum",
            "Vendor1099",
            "CurrencyRef",
            "TaxReportingBasis",
            "APAccountRef",
        }
    ),
    "Customer": frozenset({"AcctNum"}),
}

#: Contact properties QBO lets a filter name without their one leaf: ``PrimaryEmailAddr = 'x'`` means
#: ``PrimaryEmailAddr.Address = 'x'`` (issue 9; the form real QBO answers with rows), ``PrimaryPhone = '…'`` means
#: ``PrimaryPhone.FreeFormNumber``. The nested path names exactly that leaf; any other leaf is not queryable.
CONTACT_LEAF: dict[str, str] = {
    "PrimaryEmailAddr": "Address",
    "PrimaryPhone": "FreeFormNumber",
    "AlternatePhone": "FreeFormNumber",
    "Mobile": "FreeFormNumber",
    "Fax": "FreeFormNumber",
    "WebAddr": "URI",
}

_METADATA_FIELDS = {"createtime": "CreateTime", "lastupdatedtime": "LastUpdatedTime"}
_KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "orderby",
        "order",
        "by",
        "asc",
        "desc",
        "startposition",
        "maxresults",
        "count",
        "true",
        "false",
        "current_date",
        "group",
        "join",
        "having",
        "limit",
    }
)


class QueryError(Exception):
    """An invalid or unsupported query; the caller answers 400 with ``code`` (docs/emulator.md "Query faults").

    Real QBO sends three families, none with an ``element`` key except 2030: a statement it cannot parse is 4000
    "Error parsing query" / ``QueryParserError: …`` (consolibyte/quickbooks-php#129), a statement it parses but
    refuses is 4001 "Invalid query" / ``QueryValidationError: …`` (minimul/qbo_api ``error/400.yml``,
    ruckus/quickbooks-ruby#403), and an empty or malformed ``Id`` literal is 2030 "Invalid ID".
    """

    def __init__(
        self, detail: str, message: str = "Invalid query", code: str = "4001", element: str | None = None
    ) -> None:
        super().__init__(f"{message}: {detail}")
        self.message = message
        self.detail = detail
        self.code = code
        self.element = element


def _parser_error(text: str) -> QueryError:
    return QueryError(f"QueryParserError: {text}", "Error parsing query", "4000")


def _validation_error(text: str) -> QueryError:
    return QueryError(f"QueryValidationError: {text}")


def _invalid_id(value: str) -> QueryError:
    """``Id = ''`` is refused like a malformed id in a read path (minimul/qbo_api ``error/500.yml``: 2030, "Id")."""
    return QueryError(f"Id should be a valid number. Supplied value:{value}", "Invalid ID", "2030", "Id")


def canonical_entity(name: str) -> str | None:
    """The canonical QBO entity name for ``name`` in any case ("cUstomer" → "Customer"), or None if not emulated."""
    return _ENTITY_BY_LOWER.get(name.strip().lower())


# --------------------------------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "string", "number", "op", "punct", "eof"
    text: str
    pos: int
    value: Any = None


_WORD_START = re.compile(r"[A-Za-z_]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


def _tokenize(sql: str) -> list[_Token]:
    """Split a statement into tokens; string literals keep ``\\'`` escapes resolved (API.md §3.2)."""
    tokens: list[_Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            start, i, out = i, i + 1, []
            while True:
                if i >= n:
                    raise _parser_error(f"unterminated string literal starting at position {start + 1}")
                c = sql[i]
                if c == "\\" and i + 1 < n:
                    out.append(sql[i + 1])
                    i += 2
                elif c == "'":
                    i += 1
                    break
                else:
                    out.append(c)
                    i += 1
            tokens.append(_Token("string", sql[start:i], start, "".join(out)))
        elif ch in "<>=!":
            two = sql[i : i + 2]
            if two in ("<=", ">=", "!=", "<>"):
                tokens.append(_Token("op", two, i))
                i += 2
            elif ch == "!":
                raise _parser_error(f"unexpected character '!' at position {i + 1}")
            else:
                tokens.append(_Token("op", ch, i))
                i += 1
        elif ch in "(),*":
            tokens.append(_Token("punct", ch, i))
            i += 1
        elif ch.isdigit() or (ch in "-+." and _NUMBER.match(sql, i)):
            m = _NUMBER.match(sql, i)
            assert m is not None
            tokens.append(_Token("number", m.group(), i, Decimal(m.group())))
            i = m.end()
        elif _WORD_START.match(ch):
            m = _WORD.match(sql, i)
            assert m is not None
            if sql[m.end() : m.end() + 1] == ".":
                raise _parser_error(f"malformed property path '{sql[i : m.end() + 1]}' at position {i + 1}")
            tokens.append(_Token("word", m.group(), i))
            i = m.end()
        else:
            raise _parser_error(f"unexpected character '{ch}' at position {i + 1}")
    tokens.append(_Token("eof", "", n))
    return tokens


# ------------------------------------------------------------------------------------------------------ parser


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``path op value`` filter; ``values`` has one element except for ``IN``."""

    path: tuple[str, ...]
    op: str  # "=", "<", ">", "<=", ">=", "in", "like"
    values: tuple[Any, ...]


@dataclass(slots=True)
class Query:
    """A parsed ``SELECT``; paths are tuples of property names as written (resolved case-insensitively)."""

    entity: str
    count: bool = False
    fields: tuple[tuple[str, ...], ...] | None = None  # None means every field (``*``)
    where: list[Condition] = field(default_factory=list)
    order_by: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (path, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


class _CurrentDate:
    """The ``CURRENT_DATE`` literal, resolved when the query runs."""


CURRENT_DATE = _CurrentDate()


class _Parser:
    def __init__(self, sql: str) -> None:
        self.tokens = _tokenize(sql)
        self.i = 0

    # -- helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _describe(self, tok: _Token) -> str:
        """JavaCC's wording, as QBO's parser reports it: ``"<EOF>" at line 1, column 24`` (quickbooks-php#129)."""
        text = "<EOF>" if tok.kind == "eof" else tok.text
        return f'"{text}" at line 1, column {tok.pos + 1}'

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            raise _parser_error(f"expected {word.upper()} but found {self._describe(self.tok)}")
        self.i += 1

    def expect_punct(self, ch: str) -> None:
        if not (self.tok.kind == "punct" and self.tok.text == ch):
            raise _parser_error(f"expected '{ch}' but found {self._describe(self.tok)}")
        self.i += 1

    def accept_punct(self, ch: str) -> bool:
        if self.tok.kind == "punct" and self.tok.text == ch:
            self.i += 1
            return True
        return False

    def path(self, what: str = "a property name") -> tuple[str, ...]:
        tok = self.tok
        if tok.kind != "word" or tok.text.lower() in _KEYWORDS:
            raise _parser_error(f"expected {what} but found {self._describe(tok)}")
        self.i += 1
        return tuple(tok.text.split("."))

    def integer(self, clause: str) -> int:
        tok = self.tok
        if tok.kind == "string":  # STARTPOSITION '1' is tolerated like numbers in quotes elsewhere
            try:
                value = Decimal(tok.value.strip())
            except InvalidOperation:
                value = None
        else:
            value = tok.value if tok.kind == "number" else None
        if value is None or value != value.to_integral_value():
            raise _parser_error(f"{clause} expects an integer but found {self._describe(tok)}")
        self.i += 1
        return int(value)

    # -- grammar
    def statement(self) -> Query:
        self.expect_kw("select")
        count, fields = self.selection()
        self.expect_kw("from")
        tok = self.tok
        if tok.kind != "word" or "." in tok.text:
            raise _parser_error(f"expected an entity name after FROM but found {self._describe(tok)}")
        entity = canonical_entity(tok.text)
        if entity is None:
            raise _validation_error(f"invalid context declaration: {tok.text}")
        self.i += 1
        query = Query(entity=entity, count=count, fields=fields)
        seen: set[str] = set()
        while self.tok.kind != "eof":
            word = self.tok.text.lower() if self.tok.kind == "word" else ""
            if word == "order":
                self.i += 1
                self.expect_kw("by")
                word = "orderby"
            elif word in ("where", "orderby", "startposition", "maxresults"):
                self.i += 1
            elif word in ("group", "join", "having", "limit", "offset", "union"):
                raise _parser_error(f"{word.upper()} is not supported by the QuickBooks query language")
            else:
                raise _parser_error(f"Encountered {self._describe(self.tok)}.")
            if word in seen:
                raise _parser_error(f"{word.upper()} appears more than once")
            seen.add(word)
            if word == "where":
                query.where = self.conditions()
            elif word == "orderby":
                query.order_by = self.sort_list()
            elif word == "startposition":
                query.start_position = self.integer("STARTPOSITION")
                if query.start_position < 1:
                    raise _validation_error(f"value {query.start_position} is too small. Min allowed value is 1")
            else:
                query.max_results = self.integer("MAXRESULTS")
                if query.max_results < 1:
                    raise _validation_error(f"value {query.max_results} is too small. Min allowed value is 1")
                if query.max_results > MAX_MAX_RESULTS:
                    raise _validation_error(
                        f"value {query.max_results} is too large. Max allowed value is {MAX_MAX_RESULTS}"
                    )
        return query

    def selection(self) -> tuple[bool, tuple[tuple[str, ...], ...] | None]:
        if self.is_kw("count"):
            self.i += 1
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            return True, None
        if self.accept_punct("*"):
            while self.accept_punct(","):  # ``SELECT *, Sku``: every field is already selected (API.md §3.2)
                self.path()
            return False, None
        paths = [self.path("'*', COUNT(*) or a property name")]
        while self.accept_punct(","):
            if self.accept_punct("*"):
                return False, None
            paths.append(self.path())
        return False, tuple(paths)

    def conditions(self) -> list[Condition]:
        conds = [self.condition()]
        while True:
            if self.is_kw("and"):
                self.i += 1
                conds.append(self.condition())
            elif self.is_kw("or"):
                raise _parser_error("OR is not supported; QuickBooks queries combine conditions with AND only")
            else:
                return conds

    def condition(self) -> Condition:
        if self.is_kw("not"):
            raise _parser_error("NOT is not supported in QuickBooks queries")
        if self.accept_punct("("):
            raise _parser_error("parentheses around conditions are not supported; use AND only")
        path = self.path()
        tok = self.tok
        if tok.kind == "op":
            if tok.text in ("!=", "<>"):
                raise _parser_error(f"operator '{tok.text}' is not supported; use =, <, >, <=, >=, IN or LIKE")
            self.i += 1
            return Condition(path, tok.text, (self.value(),))
        if self.is_kw("in"):
            self.i += 1
            self.expect_punct("(")
            values = [self.value()]
            while self.accept_punct(","):
                values.append(self.value())
            self.expect_punct(")")
            return Condition(path, "in", tuple(values))
        if self.is_kw("like"):
            self.i += 1
            if self.tok.kind != "string":
                raise _parser_error(f"LIKE expects a quoted pattern but found {self._describe(self.tok)}")
            pattern = self.tok.value
            self.i += 1
            return Condition(path, "like", (pattern,))
        if self.is_kw("not"):
            raise _parser_error("NOT is not supported in QuickBooks queries")
        raise _parser_error(f"expected an operator (=, <, >, <=, >=, IN, LIKE) but found {self._describe(tok)}")

    def value(self) -> Any:
        tok = self.tok
        if tok.kind in ("string", "number"):
            self.i += 1
            return tok.value
        if tok.kind == "word" and tok.text.lower() in ("true", "false"):
            self.i += 1
            return tok.text.lower() == "true"
        if tok.kind == "word" and tok.text.lower() == "current_date":
            self.i += 1
            return CURRENT_DATE
        raise _parser_error(f"expected a value ('text', a number, true or false) but found {self._describe(tok)}")

    def sort_list(self) -> list[tuple[tuple[str, ...], bool]]:
        keys = []
        while True:
            path = self.path()
            descending = False
            if self.is_kw("asc", "desc"):
                descending = self.tok.text.lower() == "desc"
                self.i += 1
            keys.append((path, descending))
            if not self.accept_punct(","):
                return keys


def parse(sql: str) -> Query:
    """Parse one statement into a :class:`Query`; raises :class:`QueryError` on anything QBO would reject."""
    if not isinstance(sql, str) or not sql.strip():  # QBO's exact text for an empty statement (quickbooks-php#129)
        raise _parser_error('Encountered "<EOF>" at line 0, column 0.\nWas expecting:\n    "select" ...\n    ')
    return _Parser(sql).statement()


# ------------------------------------------------------------------------------------------- value semantics

_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_NUMERIC_RE = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*$")
_NUMBER_STARTS = frozenset("0123456789+-. ")


def _as_number(value: Any) -> int | Decimal | None:
    """A number from a number or numeric text (``'300.00'``); ints stay ints (they compare exactly with Decimals)."""
    if isinstance(value, str):
        if value.isdigit() and value.isascii():  # the common case: ids
            return int(value)
        if value[:1] not in _NUMBER_STARTS or not _NUMERIC_RE.match(value):
            return None
        return Decimal(value.strip())
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return None


def _as_instant(value: Any) -> datetime | date | None:
    """An ISO date (``date``) or datetime from a string; a datetime without offset stays naive (see below)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value[:1].isdigit():
        return None
    if value[4:5] != "-" or value[7:8] != "-":
        return None
    if len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    try:  # the usual stored form, 2015-07-23T10:58:12-07:00, parses directly
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    if _DATETIME_RE.match(value):
        text = value.replace(" ", "T")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        elif re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed
    return None


def _to_datetime(value: date | datetime, tz: Any) -> datetime:
    """A date becomes its midnight, and a naive datetime gets ``tz`` (the other side's offset, else the company's)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo else value.replace(tzinfo=tz or COMPANY_TZ)


def _compare_instants(left: date | datetime, right: date | datetime) -> int:
    """Compare as instants; a plain date or naive datetime is read in the other value's offset (API.md §3.2)."""
    if isinstance(left, datetime) or isinstance(right, datetime):
        ltz = left.tzinfo if isinstance(left, datetime) else None
        rtz = right.tzinfo if isinstance(right, datetime) else None
        left, right = _to_datetime(left, rtz), _to_datetime(right, ltz)
    return (left > right) - (left < right)


def _comparator(literal: Any) -> Callable[[Any], int | None]:
    """A function giving -1/0/1 for a stored value against ``literal``, or None when they cannot be compared.

    Booleans compare as booleans, numbers (and numeric text such as ``'300.00'``) numerically, ISO dates and
    datetimes as instants (offsets respected), and other text case-insensitively (API.md §3.2). The literal's forms
    are worked out once, so scanning 100,000 rows converts only the stored side.
    """
    lit_bool = _as_bool(literal)
    lit_num = _as_number(literal)
    lit_inst = _as_instant(literal)
    lit_text = str(literal).casefold()
    literal_is_bool = isinstance(literal, bool)
    lit_aware = lit_inst if isinstance(lit_inst, datetime) and lit_inst.tzinfo is not None else None
    in_zone: dict[Any, datetime] = {}  # a date/naive literal read in each stored offset seen

    def instant_cmp(si: date | datetime) -> int:
        if isinstance(si, datetime) and si.tzinfo is not None:
            lit = lit_aware
            if lit is None:
                lit = in_zone.get(si.tzinfo)
                if lit is None:
                    lit = in_zone[si.tzinfo] = _to_datetime(lit_inst, si.tzinfo)  # type: ignore[arg-type]
            return (si > lit) - (si < lit)
        return _compare_instants(si, lit_inst)  # type: ignore[arg-type]

    def compare(stored: Any) -> int | None:
        if isinstance(stored, dict):  # a reference is filtered by its id: CustomerRef = '123'
            if "value" not in stored:
                return None
            stored = stored["value"]
        if stored is None or isinstance(stored, (dict, list)):
            return None
        if literal_is_bool or isinstance(stored, bool):
            sb = _as_bool(stored)
            if sb is None or lit_bool is None:
                return None
            return (sb > lit_bool) - (sb < lit_bool)
        if lit_num is not None:
            sn = _as_number(stored)
            if sn is not None:
                return (sn > lit_num) - (sn < lit_num)
        if lit_inst is not None:
            si = _as_instant(stored)
            if si is not None:
                return instant_cmp(si)
        s = str(stored).casefold()
        return (s > lit_text) - (s < lit_text)

    return compare


def _compare(stored: Any, literal: Any) -> int | None:
    """-1/0/1 comparing one stored value with one literal (see :func:`_comparator`)."""
    return _comparator(literal)(stored)


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _ref_value(value: Any) -> Any:
    return value.get("value") if isinstance(value, dict) else value


def _like_regex(pattern: str) -> re.Pattern[str]:
    """``%`` matches any run of characters (including none); every other character is literal (API.md §3.2)."""
    body = ".*".join(re.escape(part) for part in pattern.split("%"))
    return re.compile(body, re.IGNORECASE | re.DOTALL)


# ---------------------------------------------------------------------------------------------- field lookup


class _Resolver:
    """Resolves property paths case-insensitively against an entity's known properties."""

    _SAMPLE = 200

    def __init__(self, entity: str, rows: list[dict]) -> None:
        self.entity = entity
        self.rows = rows
        self.known = {name.lower(): name for name in DOCUMENTED_FIELDS.get(entity, ())}
        for row in rows[: self._SAMPLE]:
            self._learn(row)
        self._scanned = len(rows) <= self._SAMPLE

    def _learn(self, row: dict) -> None:
        for key in row:
            if not key.startswith("_"):  # the store's internal keys are not properties
                self.known.setdefault(key.lower(), key)

    def _lookup_top(self, name: str) -> str | None:
        found = self.known.get(name.lower())
        if found is None and not self._scanned:  # a property only some later row carries
            self._scanned = True
            for row in self.rows:
                self._learn(row)
            found = self.known.get(name.lower())
        return found

    def resolve(self, path: tuple[str, ...], *, filtering: bool = False) -> tuple[str, ...]:
        """The stored path for ``path``; raises 4001 "property 'X' is not queryable" as QBO words it (no entity)."""
        top = self._lookup_top(path[0])
        dotted = ".".join(path)
        if top is None or (filtering and top in NOT_FILTERABLE.get(self.entity, ())):
            raise _validation_error(f"property '{dotted}' is not queryable")
        if top == "MetaData" and len(path) > 1:
            if len(path) != 2 or path[1].lower() not in _METADATA_FIELDS:
                raise _validation_error(f"property '{dotted}' is not queryable")
            return (top, _METADATA_FIELDS[path[1].lower()])
        leaf = CONTACT_LEAF.get(top)
        if leaf is not None:
            if len(path) == 1:
                return (top, leaf)  # the short form
            if len(path) != 2 or path[1].lower() != leaf.lower():
                raise _validation_error(f"property '{dotted}' is not queryable")
            return (top, leaf)
        return (top,) + tuple(path[1:])


def _getter(path: tuple[str, ...]) -> Callable[[dict], Any]:
    """A fast accessor for a resolved path; nested names match case-insensitively."""
    if len(path) == 1:
        key = path[0]
        return lambda row: row.get(key)
    if len(path) == 2:
        outer, inner = path

        def get2(row: dict) -> Any:  # MetaData.LastUpdatedTime, PrimaryEmailAddr.Address …
            value = row.get(outer)
            if not isinstance(value, dict):
                return None
            if inner in value:
                return value[inner]
            lowered = inner.lower()
            return next((v for k, v in value.items() if k.lower() == lowered), None)

        return get2

    def get(row: dict) -> Any:
        value: Any = row
        for part in path:
            if not isinstance(value, dict):
                return None
            if part in value:
                value = value[part]
            else:
                lowered = part.lower()
                value = next((v for k, v in value.items() if k.lower() == lowered), None)
        return value

    return get


def _predicate(cond: Condition, get: Callable[[dict], Any], today: date) -> Callable[[dict], bool]:
    values = tuple(today if v is CURRENT_DATE else v for v in cond.values)
    op = cond.op
    if op == "like":
        regex = _like_regex(values[0])

        def like(row: dict) -> bool:
            value = get(row)
            if isinstance(value, dict):
                value = value.get("value")
            return isinstance(value, str) and regex.fullmatch(value) is not None

        return like
    if op in ("=", "in"):
        # Fast path for plain text (the common DisplayName = '…' / Id IN (…) case): compare casefolded strings.
        if all(isinstance(v, str) and _as_number(v) is None and _as_instant(v) is None for v in values):
            wanted = {v.casefold() for v in values}
            comparators = [_comparator(v) for v in values]
            is_null = any(not v.strip() for v in values)  # ' ' is QBO's NULL literal (API.md §3.2)

            def text_eq(row: dict) -> bool:
                value = get(row)
                if isinstance(value, dict):
                    value = value.get("value")
                if value is None or value == "":
                    return is_null
                if isinstance(value, str):
                    return value.casefold() in wanted
                return any(cmp(value) == 0 for cmp in comparators)

            return text_eq
        if all(isinstance(v, bool) for v in values):  # Active = true / Active IN (true, false)
            wanted_bools = set(values)
            return lambda row: _as_bool(_ref_value(get(row))) in wanted_bools
        comparators = [_comparator(v) for v in values]
        numbers = {_as_number(v) for v in values}
        if None not in numbers:  # Id = '5000', CustomerRef IN ('1', '2'), TotalAmt = 85: a set lookup per row
            # a canonical digit string ("5000") equals an integral number exactly when it is that number's text
            integral_texts = {str(int(n)) for n in numbers if n == int(n)}

            def number_eq(row: dict) -> bool:
                value = get(row)
                if isinstance(value, dict):
                    value = value.get("value")
                if type(value) is str and value.isdigit() and value.isascii() and value[0] != "0":
                    return value in integral_texts
                number = _as_number(value)
                if number is not None:
                    return number in numbers
                return any(cmp(value) == 0 for cmp in comparators)

            return number_eq
        return lambda row: any(cmp(get(row)) == 0 for cmp in comparators)
    compare = _comparator(values[0])
    accept = {"<": (-1,), ">": (1,), "<=": (-1, 0), ">=": (0, 1)}[op]

    def ordered(row: dict) -> bool:
        return compare(get(row)) in accept

    return ordered


# --------------------------------------------------------------------------------------------------- ordering


def _sort_value(value: Any) -> tuple:
    """A total-order key: missing < booleans < numbers < instants < text (text in code-point order)."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None or isinstance(value, (dict, list)):
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    number = _as_number(value)
    if number is not None:
        return (2, number)
    instant = _as_instant(value)
    if instant is not None:
        return (3, _to_datetime(instant, None).astimezone(UTC))
    return (4, str(value))


def default_sort_key(entity: str) -> Callable[[dict], Any]:
    """QBO's order without ORDERBY: customers by FullyQualifiedName, jobs right after their parent; other names
    lists by their display name in code-point order ("PG&E" before "Pam Seitz"); transactions by Id (API.md §3.2).
    Sorts are stable, so ties keep the store's order and successive pages never overlap.
    """
    facts = FACTS.get(entity)
    label = facts.label if facts is not None else None
    if label is None:
        return _id_key
    if facts is not None and facts.hierarchical:
        # "Parent:Job" sorts right after "Parent" when ":" weighs less than any character.
        return lambda row: str(row.get("FullyQualifiedName") or row.get(label) or "").replace(":", "\x00")
    return lambda row: str(row.get(label) or "")


def _id_key(row: dict) -> tuple:
    """Numeric ids in numeric order ("9" < "10"), then any other ids (TAX, NON) as text."""
    value = str(row.get("Id"))
    return (0, len(value), value) if value.isdigit() else (1, 0, value)


# ----------------------------------------------------------------------------------------------- projection


def _clone(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, scalars), several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _clone_row(row: dict) -> dict:
    """A copy of one stored object as the wire shows it: the store's internal ``_`` keys left out."""
    return {k: _clone(v) for k, v in row.items() if not k.startswith("_")}


_ALWAYS_PROJECTED = ("Id", "SyncToken", "domain")


def _project(row: dict, fields: tuple[str, ...]) -> dict:
    """A sparse object holding the selected top-level properties plus Id, SyncToken, domain and ``sparse: true``."""
    out: dict[str, Any] = {}
    for name in _ALWAYS_PROJECTED:
        if name in row:
            out[name] = row[name]
    for name in fields:
        if name in row:
            out[name] = _clone(row[name])
    out["sparse"] = True
    return out


# ---------------------------------------------------------------------------------------------------- runner


def _timestamp(now: datetime | None) -> str:
    """The response ``time``: milliseconds and the company's offset (``2015-07-23T11:02:25.149-07:00``)."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(COMPANY_TZ).isoformat(timespec="milliseconds")


def _mentions_active(conditions: Iterable[Condition]) -> bool:
    return any(cond.path[0].lower() == "active" for cond in conditions)


Sorter = Callable[[list[dict]], list[dict]]
#: ``cached_order(entity, order_name, sort)``: ``sort(every stored row of entity, in store order)``, which the caller
#: may keep until the entity's next write (the emulator does). ``order_name`` identifies the order.
OrderCache = Callable[[str, str, Sorter], list[dict]]


def run_query(
    sql: str,
    rows_for: Callable[[str], list[dict]],
    *,
    now: datetime | None = None,
    today: date | None = None,
    cached_order: OrderCache | None = None,
) -> dict:
    """Answer ``sql`` the way QBO's query endpoint does and return the whole response body.

    ``rows_for(entity)`` returns every stored object of that canonical entity in store order, inactive ones included;
    they are not modified (returned rows are copies, without the store's internal ``_`` keys), so the caller may pass
    its stored dicts as they are. With ``cached_order`` (see :data:`OrderCache`) a page is read off the front of a
    cached sorted list instead of sorting the matches; the answer is the same. ``now`` (the caller's clock) stamps
    ``time`` in the company's offset (default: the real time) and ``today`` resolves ``CURRENT_DATE`` (default:
    ``now``'s company date). Raises :class:`QueryError` for invalid queries.
    """
    query = parse(sql)
    rows = rows_for(query.entity)
    resolver = _Resolver(query.entity, rows)
    current = today or (now.astimezone(COMPANY_TZ).date() if now and now.tzinfo else (now or datetime.now()).date())

    for cond in query.where:
        if cond.path[0].lower() == "id" and any(isinstance(v, str) and not v.strip() for v in cond.values):
            raise _invalid_id(next(v for v in cond.values if isinstance(v, str) and not v.strip()))
    predicates = [
        _predicate(cond, _getter(resolver.resolve(cond.path, filtering=True)), current) for cond in query.where
    ]
    hide_inactive = query.entity in NAME_LIST_ENTITIES and not _mentions_active(query.where)
    sort_keys = [(_getter(resolver.resolve(path)), desc) for path, desc in query.order_by]
    fields = None
    if query.fields is not None:
        fields = tuple(resolver.resolve(path)[0] for path in query.fields)
    stamp = _timestamp(now)
    if query.count:
        return {"QueryResponse": {"totalCount": _count(rows, predicates, hide_inactive)}, "time": stamp}

    start = query.start_position - 1
    stop = start + query.max_results
    default_key = default_sort_key(query.entity)
    if cached_order is not None:
        ordered = cached_order(query.entity, _order_name(query, resolver), _sorter(sort_keys, default_key))
        page = list(islice(_matching(ordered, predicates, hide_inactive), start, stop))
    else:
        page = _first_sorted(_matching(rows, predicates, hide_inactive), stop, sort_keys, default_key)[start:]
    if not page:
        return {"QueryResponse": {}, "time": stamp}
    out = [_clone_row(row) for row in page] if fields is None else [_project(row, fields) for row in page]
    return {
        "QueryResponse": {query.entity: out, "startPosition": query.start_position, "maxResults": len(out)},
        "time": stamp,
    }


def _count(rows: list[dict], predicates: list[Callable[[dict], bool]], hide_inactive: bool) -> int:
    """COUNT(*): ``len`` when nothing filters, one pass over the rows otherwise."""
    if not predicates:
        return len(rows) - sum(1 for row in rows if row.get("Active") is False) if hide_inactive else len(rows)
    return sum(1 for _ in _matching(rows, predicates, hide_inactive))


def _matching(rows: list[dict], predicates: list[Callable[[dict], bool]], hide_inactive: bool) -> Iterable[dict]:
    """The rows passing every condition, lazily and in their given order."""
    matched: Iterable[dict] = rows
    if hide_inactive:
        matched = (row for row in matched if row.get("Active") is not False)
    for pred in predicates:
        matched = filter(pred, matched)
    return matched


def _order_name(query: Query, resolver: _Resolver) -> str:
    """A name for the query's row order: "" for the default order, else its resolved ORDERBY keys."""
    return ", ".join(".".join(resolver.resolve(path)) + (" DESC" if desc else "") for path, desc in query.order_by)


def _sorter(sort_keys: list[tuple[Callable[[dict], Any], bool]], default_key: Callable[[dict], Any]) -> Sorter:
    """Sorts rows by the ORDERBY keys (stable passes from the last key to the first), else by ``default_key``."""

    def sort(rows: list[dict]) -> list[dict]:
        if not sort_keys:
            return sorted(rows, key=default_key)
        out = list(rows)
        for get, desc in reversed(sort_keys):
            out.sort(key=lambda row, get=get: _sort_value(get(row)), reverse=desc)
        return out

    return sort


def _first_sorted(
    matched: Iterable[dict],
    count: int,
    sort_keys: list[tuple[Callable[[dict], Any], bool]],
    default_key: Callable[[dict], Any],
) -> list[dict]:
    """The first ``count`` matches in query order, exactly as the full stable sort gives them.

    With at most one sort key and a page that is a small part of the matches, ``heapq.nsmallest``/``nlargest``
    (documented equal to ``sorted(...)[:n]``, ties included) picks them without sorting every row.
    """
    rows = list(matched)
    if len(sort_keys) > 1 or count * 4 >= len(rows):
        return _sorter(sort_keys, default_key)(rows)[:count]
    key, descending = default_key, False
    if sort_keys:
        get, descending = sort_keys[0]

        def key(row: dict) -> tuple:
            return _sort_value(get(row))

    pick = heapq.nlargest if descending else heapq.nsmallest
    return pick(count, rows, key=key)
