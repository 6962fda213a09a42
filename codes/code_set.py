"""A code system version as the loader writes it: chapters and blocks, and the codes with
their place in them, whatever the source."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

SYNONYMS_DIR = Path(__file__).resolve().parent / "synonyms"


@dataclass
class Group:
    kind: str  # chapter | block
    code: str
    title: str
    chapter: str
    sort_key: int


@dataclass
class Code:
    code: str
    description: str
    parent_code: str | None
    chapter: str
    block: str
    billable: bool
    terms: list[str]
    sort_key: int
    extended: bool = False
    synonyms: list[str] = field(default_factory=list)


@dataclass
class CodeSet:
    system: str
    version: str
    title: str
    source: str
    attribution: str
    groups: list[Group]
    codes: list[Code]

    def add_synonyms(self, path: Path) -> list[str]:
        """Adds the synonyms of a `code<TAB>synonym` file (lines starting with # are comments);
        returns a warning for each code this version does not hold."""
        by_code = {c.code: c for c in self.codes}
        warnings = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            code, _, synonym = line.partition("\t")
            if not synonym.strip():
                raise ValueError(f"{path}:{number}: expected code<TAB>synonym")
            target = by_code.get(code.strip())
            if target is None:
                warnings.append(
                    f"{path.name}:{number}: {code} is not in {self.system} {self.version}"
                )
                continue
            if synonym.strip() not in target.synonyms:
                target.synonyms.append(synonym.strip())
        return warnings


FILE_COLUMNS = ("kind", "code", "description", "parent")


def read_file(
    path: Path, system: str, version: str, title: str, source: str, attribution: str
) -> CodeSet:
    """Another code system from a CSV file (WHO ICD-10, ICD-11 or a national edition a
    hospital licenses), one row per chapter, block or code in the classification's order:

        kind,code,description,parent[,billable][,terms]

    kind is chapter, block or code; parent is the chapter of a block, the block (or enclosing
    block) of a code that starts a category, the code above a subcategory; billable (true or
    false) defaults to "has no subcategory"; terms are inclusion terms separated by `|`."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or any(column not in rows[0] for column in FILE_COLUMNS):
        raise ValueError(f"{path}: the header must name {', '.join(FILE_COLUMNS)}")
    groups: dict[str, Group] = {}
    codes: dict[str, Code] = {}
    children: set[str] = set()
    for number, row in enumerate(rows, start=2):
        kind = row["kind"].strip().lower()
        code = row["code"].strip().upper()
        description = row["description"].strip()
        parent = (row.get("parent") or "").strip().upper() or None
        if not code or not description:
            raise ValueError(f"{path}:{number}: code and description are required")
        if kind == "chapter":
            groups[f"chapter {code}"] = Group("chapter", code, description, code, number)
        elif kind == "block":
            chapter = groups.get(f"chapter {parent}") or groups.get(f"block {parent}")
            if chapter is None:
                raise ValueError(f"{path}:{number}: block {code} names no known chapter {parent}")
            groups[f"block {code}"] = Group("block", code, description, chapter.chapter, number)
        elif kind == "code":
            if parent in codes:
                above = codes[parent]
                chapter, block = above.chapter, above.block
                children.add(parent)
            elif (block_group := groups.get(f"block {parent}")) is not None:
                chapter, block, parent = block_group.chapter, block_group.code, None
            else:
                raise ValueError(
                    f"{path}:{number}: code {code} names no known block or code {parent}"
                )
            billable = (row.get("billable") or "").strip().lower()
            terms = [t.strip() for t in (row.get("terms") or "").split("|") if t.strip()]
            codes[code] = Code(
                code,
                description,
                parent,
                chapter,
                block,
                billable == "true" if billable in ("true", "false") else None,  # type: ignore[arg-type]
                terms,
                number,
            )
        else:
            raise ValueError(f"{path}:{number}: kind must be chapter, block or code, not {kind!r}")
    for code in codes.values():
        if code.billable is None:
            code.billable = code.code not in children
    return CodeSet(
        system, version, title, source, attribution, list(groups.values()), list(codes.values())
    )


def warn(lines: list[str]) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)
