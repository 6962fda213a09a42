"""PostgREST's URL grammar: `select=`, horizontal filters, `and`/`or` trees and `order=`,
parsed into plain values. Nothing here knows SQL or the schema; errors are parse errors."""

from __future__ import annotations

import re
from dataclasses import dataclass

from devstack.rest.errors import ApiError, aggregates, parse_error

# operator -> SQL operator, for those that are a plain binary operator
BINARY_OPERATORS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "like",
    "ilike": "ilike",
    "match": "~",
    "imatch": "~*",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
    "isdistinct": "is distinct from",
}
TEXT_SEARCH = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}
QUANTIFIABLE = {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"}
IS_VALUES = {"null", "not_null", "true", "false", "unknown"}
AGGREGATES = {"count", "sum", "avg", "max", "min"}
RESERVED_PARAMS = {"select", "order", "limit", "offset", "columns", "on_conflict"}

# Deeper nesting (logic trees, embeds, JSON paths) is refused as a parse error: nobody
# writes it by hand, and composing it would exhaust Python's recursion limit.
MAX_DEPTH = 32

_OPERATOR = re.compile(r"([a-z]+)(?:\(([a-z_]+)\))?")
_CAST = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\])?")
_RELATED_ORDER = re.compile(r"([^.(]+)\(([^)]+)\)(.*)")


@dataclass(frozen=True)
class JsonStep:
    arrow: str  # '->' or '->>'
    key: str


@dataclass(frozen=True)
class Field:
    name: str
    json_path: tuple[JsonStep, ...] = ()

    @property
    def output_name(self) -> str:
        """The key PostgREST gives this field in a result: the last JSON key, else the name."""
        return self.json_path[-1].key if self.json_path else self.name


@dataclass(frozen=True)
class Condition:
    field: Field
    operator: str
    value: str | tuple[str, ...]
    negated: bool = False
    quantifier: str | None = None  # 'any' | 'all'
    language: str | None = None  # full-text search configuration


@dataclass(frozen=True)
class Logic:
    conjunction: str  # 'and' | 'or'
    conditions: tuple[Condition | Logic, ...]
    negated: bool = False


@dataclass(frozen=True)
class StarItem:
    pass


@dataclass(frozen=True)
class ColumnItem:
    field: Field
    alias: str | None = None
    cast: str | None = None

    @property
    def output_name(self) -> str:
        return self.alias or self.field.output_name


@dataclass(frozen=True)
class EmbedItem:
    target: str
    alias: str | None
    hint: str | None
    join: str | None  # 'inner' | 'left' | None
    spread: bool
    items: tuple[SelectItem, ...]

    @property
    def output_name(self) -> str:
        return self.alias or self.target


SelectItem = StarItem | ColumnItem | EmbedItem


@dataclass(frozen=True)
class OrderTerm:
    field: Field
    descending: bool = False
    nulls: str | None = None  # 'first' | 'last'
    embed: str | None = None  # `embed(field)`: a column of a to-one embed of the same level


def parse_field(text: str) -> Field:
    text = text.strip()
    parts = re.split(r"(->>?)", text)
    name = _unquote_name(parts[0].strip())
    if not name:
        raise parse_error(f'"failed to parse field ({text})"', "expecting a column name")
    if len(parts) // 2 > MAX_DEPTH:
        raise parse_error(f'"failed to parse field ({text[:80]})"', "JSON path too deep")
    steps = []
    for i in range(1, len(parts), 2):
        key = parts[i + 1].strip()
        if not key:
            raise parse_error(f'"failed to parse field ({text})"', "expecting a JSON key")
        steps.append(JsonStep(parts[i], _unquote_name(key)))
    return Field(name, tuple(steps))


def _unquote_name(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def parse_cast(text: str) -> str:
    if not _CAST.fullmatch(text):
        raise parse_error(f'"failed to parse cast ({text})"', "unexpected cast type")
    return text


# ---------------------------------------------------------------- select=


class _SelectParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def fail(self, expecting: str) -> ApiError:
        return parse_error(
            f'"failed to parse select parameter ({self.text})" (line 1, column {self.pos + 1})',
            f"unexpected {self._here()} expecting {expecting}",
        )

    def _here(self) -> str:
        return f'"{self.text[self.pos]}"' if self.pos < len(self.text) else "end of input"

    def _peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def _skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
            self.pos += 1

    def items(self, nested: bool) -> tuple[SelectItem, ...]:
        items: list[SelectItem] = []
        while True:
            self._skip_spaces()
            if nested and self._peek(")") and not items:
                return ()  # an embed without columns: `child()`
            items.append(self.item())
            self._skip_spaces()
            if self._peek(","):
                self.pos += 1
                continue
            return tuple(items)

    def token(self) -> str:
        self._skip_spaces()
        start = self.pos
        if self._peek('"'):
            end = self.text.find('"', self.pos + 1)
            if end < 0:
                raise self.fail('closing "')
            self.pos = end + 1
        while self.pos < len(self.text) and self.text[self.pos] not in ",()!:":
            if self.text[self.pos] == '"':
                end = self.text.find('"', self.pos + 1)
                if end < 0:
                    raise self.fail('closing "')
                self.pos = end
            self.pos += 1
        token = self.text[start : self.pos].strip()
        if not token:
            raise self.fail("field name (* or [a..z0..9_$])")
        return token

    def item(self) -> SelectItem:
        spread = False
        if self._peek("..."):
            spread = True
            self.pos += 3
        self._skip_spaces()
        if self._peek("*") and not spread:
            self.pos += 1
            return StarItem()
        alias = None
        name = self.token()
        if self._peek(":") and not self._peek("::"):
            self.pos += 1
            alias = _unquote_name(name)
            name = self.token()
        cast = None
        if self._peek("::"):
            self.pos += 2
            cast = parse_cast(self.token())
        hint = join = None
        while self._peek("!"):
            self.pos += 1
            mark = self.token()
            if mark in ("inner", "left"):
                join = mark
            elif hint is None:
                hint = _unquote_name(mark)
            else:
                raise self.fail("inner, left or one hint")
        if self._peek("("):
            self.pos += 1
            if self._peek(")") and (name in AGGREGATES or name.rsplit(".", 1)[-1] in AGGREGATES):
                raise aggregates()
            if cast:
                raise self.fail("no cast on an embedded resource")
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail("fewer nested embedded resources")
            children = self.items(nested=True)
            self.depth -= 1
            self._skip_spaces()
            if not self._peek(")"):
                raise self.fail('")"')
            self.pos += 1
            return EmbedItem(_unquote_name(name), alias, hint, join, spread, children)
        if spread or hint or join:
            raise self.fail('"(" after an embedded resource')
        if "." in name and name.rsplit(".", 1)[-1] in AGGREGATES:
            raise aggregates()
        return ColumnItem(parse_field(name), alias, cast)


def parse_select(text: str) -> tuple[SelectItem, ...]:
    if not text.strip():
        return (StarItem(),)
    parser = _SelectParser(text)
    items = parser.items(nested=False)
    parser._skip_spaces()
    if parser.pos != len(text):
        raise parser.fail('"," or end of input')
    return items


# ---------------------------------------------------------------- filters


def split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses and double quotes (backslash escapes in quotes)."""
    parts, depth, quoted, escaped, start = [], 0, False, False, 0
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise parse_error(f'"failed to parse logic tree ({text})"', 'unexpected ")"')
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quoted or depth:
        raise parse_error(f'"failed to parse ({text})"', "unbalanced quotes or parentheses")
    parts.append(text[start:])
    return parts


def _unquote_value(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def parse_condition(field: Field, text: str, in_tree: bool = False) -> Condition:
    negated = False
    rest = text
    if rest.startswith("not."):
        negated, rest = True, rest[4:]
    operator_text, dot, value = rest.partition(".")
    match = _OPERATOR.fullmatch(operator_text)
    if not dot or not match:
        raise parse_error(
            f'"failed to parse filter ({text})" (line 1, column 1)',
            'unexpected end of input expecting "not" or operator '
            "(eq, gt, gte, lt, lte, neq, like, ilike, match, imatch, in, is, isdistinct, "
            "cs, cd, ov, sl, sr, nxr, nxl, adj, fts, plfts, phfts, wfts)",
        )
    operator, modifier = match.group(1), match.group(2)
    language = quantifier = None
    if operator in TEXT_SEARCH:
        language = modifier
    elif modifier is not None:
        if modifier not in ("any", "all") or operator not in QUANTIFIABLE:
            raise parse_error(f'"failed to parse filter ({text})"', f"unexpected ({modifier})")
        quantifier = modifier
    if operator == "in":
        if not (value.startswith("(") and value.endswith(")")):
            raise parse_error(f'"failed to parse filter ({text})"', 'expecting "("')
        inner = value[1:-1]
        items: tuple[str, ...] = ()
        if inner.strip():
            items = tuple(_unquote_value(item.strip()) for item in split_top_level(inner))
        return Condition(field, "in", items, negated)
    if operator == "is":
        if value.lower() not in IS_VALUES:
            raise parse_error(
                f'"failed to parse filter ({text})"',
                "expecting null, not_null, true, false or unknown",
            )
        return Condition(field, "is", value.lower(), negated)
    if operator not in BINARY_OPERATORS and operator not in TEXT_SEARCH:
        raise parse_error(f'"failed to parse filter ({text})"', f'unknown operator "{operator}"')
    if in_tree:
        value = _unquote_value(value)
    return Condition(field, operator, value, negated, quantifier, language)


def parse_logic(conjunction: str, text: str, negated: bool = False, depth: int = 1) -> Logic:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise parse_error(f'"failed to parse logic tree ({text})"', 'expecting "("')
    if depth > MAX_DEPTH:
        raise parse_error(f'"failed to parse logic tree ({text[:80]})"', "nested too deeply")
    conditions: list[Condition | Logic] = []
    for part in split_top_level(text[1:-1]):
        part = part.strip()
        nested = re.match(r"(not\.)?(and|or)\(", part)
        if nested and part.endswith(")"):
            conditions.append(
                parse_logic(
                    nested.group(2), part[nested.end() - 1 :], bool(nested.group(1)), depth + 1
                )
            )
            continue
        field_text, dot, rest = part.partition(".")
        if not dot:
            raise parse_error(f'"failed to parse logic tree ({text})"', f"unexpected {part!r}")
        conditions.append(parse_condition(parse_field(field_text), rest, in_tree=True))
    if not conditions:
        raise parse_error(f'"failed to parse logic tree ({text})"', "empty logic tree")
    return Logic(conjunction, tuple(conditions), negated)


# ---------------------------------------------------------------- order= / limit=


def parse_order(text: str) -> tuple[OrderTerm, ...]:
    terms = []
    for part in split_top_level(text):
        part = part.strip()
        embed = None
        related = _RELATED_ORDER.fullmatch(part)
        if related:
            embed, field_text, modifiers = related.groups()
            part = field_text + modifiers
        pieces = part.split(".")
        field = parse_field(pieces[0])
        descending, nulls = False, None
        for modifier in pieces[1:]:
            if modifier in ("asc", "desc"):
                descending = modifier == "desc"
            elif modifier in ("nullsfirst", "nullslast"):
                nulls = modifier[5:]
            else:
                raise parse_error(
                    f'"failed to parse order ({text})" (line 1, column {len(pieces[0]) + 2})',
                    f'unexpected "{modifier}" expecting "asc", "desc", "nullsfirst" or "nullslast"',
                )
        terms.append(OrderTerm(field, descending, nulls, embed))
    return tuple(terms)


def parse_count(name: str, text: str) -> int:
    if not text.isdigit():
        raise parse_error(
            f'"failed to parse {name} parameter ({text})"', "expecting a non-negative integer"
        )
    return int(text)
