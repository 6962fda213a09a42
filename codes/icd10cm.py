"""ICD-10-CM as the simple-icd-10-cm package ships it: the CDC's tabular list (chapters,
blocks, categories, subcategories and the seventh-character codes its rules generate)."""

from __future__ import annotations

import re
from importlib import metadata, util
from pathlib import Path

from codes.code_set import SYNONYMS_DIR, Code, CodeSet, Group

SYSTEM = "ICD-10-CM"
MONTHS = {
    month: number
    for number, month in enumerate(
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        start=1,
    )
}


def packaged_release() -> tuple[str, str]:
    """The release the package holds, from its data file's name (icd10c-tabular-April-1-2026.xml):
    the version ('2026-04') and its name ('April 1, 2026'). Found without importing the package,
    which parses its whole data set on import (seconds `carebase up` need not spend)."""
    spec = util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the simple-icd-10-cm package is not installed")
    for entry in (Path(next(iter(spec.submodule_search_locations))) / "data").iterdir():
        found = re.fullmatch(r"icd10cm?-tabular-([A-Za-z]+)-(\d{1,2})-(\d{4})\.xml", entry.name)
        if found and found.group(1) in MONTHS:
            month, day, year = found.groups()
            return f"{year}-{MONTHS[month]:02d}", f"{month} {int(day)}, {year}"
    raise RuntimeError("simple-icd-10-cm holds no tabular data file this loader recognises")


def attribution(release: str) -> str:
    package = metadata.version("simple-icd-10-cm")
    return (
        f"ICD-10-CM (International Classification of Diseases, Tenth Revision, Clinical "
        f"Modification), {release} release, published by the National Center for Health "
        f"Statistics (CDC, U.S. Department of Health and Human Services); a U.S. government work "
        f"in the public domain, adapted from the WHO's ICD-10 with the WHO's authorisation. "
        f"Read through the simple-icd-10-cm package {package} (MIT License, (c) Stefano "
        f"Travasci). Lay synonyms: carebase."
    )


def read() -> CodeSet:
    import simple_icd_10_cm as cm

    version, release = packaged_release()
    groups: list[Group] = []
    codes: list[Code] = []

    def terms_of(code: str) -> list[str]:
        seen: list[str] = []
        for term in [*cm.get_inclusion_term(code), *cm.get_includes(code)]:
            if term not in seen:
                seen.append(term)
        return seen

    def walk(code: str, parent: str | None, chapter: str, block: str) -> None:
        codes.append(
            Code(
                code,
                cm.get_description(code),
                parent,
                chapter,
                block,
                cm.is_leaf(code),
                terms_of(code),
                len(groups) + len(codes),
                cm.is_extended_subcategory(code),
            )
        )
        for child in cm.get_children(code):
            walk(child, code, chapter, block)

    chapters = [c for c in cm.get_all_codes() if cm.is_chapter(c)]
    for chapter in chapters:
        groups.append(Group("chapter", chapter, cm.get_description(chapter), chapter, len(groups)))
        for block in cm.get_children(chapter):
            groups.append(
                Group(
                    "block",
                    block,
                    cm.get_description(block, prioritize_blocks=True),
                    chapter,
                    len(groups) + len(codes),
                )
            )
            for category in cm.get_children(block, prioritize_blocks=True):
                walk(category, None, chapter, block)
    code_set = CodeSet(
        SYSTEM,
        version,
        f"ICD-10-CM, {release} release",
        "https://www.cdc.gov/nchs/icd/icd-10-cm/files.html (via the simple-icd-10-cm package)",
        attribution(release),
        groups,
        codes,
    )
    return code_set


def read_with_synonyms() -> tuple[CodeSet, list[str]]:
    code_set = read()
    return code_set, code_set.add_synonyms(SYNONYMS_DIR / "icd10cm.tsv")
