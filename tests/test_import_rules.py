"""Who may import whom, read from the source with `ast` (every import, also inside functions).

- devstack/ and the sidecar never import tests/. devstack/ (the local Supabase stand-in) never
  imports the sidecar: the sidecar runs against any Supabase, and devstack starts it by module
  path (`python -m sidecar.serve`). Only the `carebase` command (devstack/cli.py) runs the
  sidecar's worker, audit verifier and copilot evaluation itself.
- In the sidecar, routes/ (HTTP) sit on top: nothing imports them but the app. accounts/,
  voice/, copilot/ and messaging/ (the domain: logins, the voice agent's calls, the AI
  copilot's tools, message templates)
  and jobs/ (workers) use integrations/
  (third-party clients), which import neither; all may use the app-wide settings, errors and
  observability modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def imports_of(folder: str, prefix: str, exempt: tuple[str, ...] = ()) -> list[str]:
    """`file: module` for every import of `prefix` (or below it) by a file under `folder`."""
    return sorted(
        f"{path.relative_to(ROOT)}: {module}"
        for path in (ROOT / folder).rglob("*.py")
        if str(path.relative_to(ROOT)) not in exempt
        for module in imported_modules(path)
        if module == prefix or module.startswith(f"{prefix}.")
    )


def test_the_import_reader_sees_imports_inside_functions() -> None:
    # `carebase worker` imports the worker inside its function.
    assert "devstack/cli.py: sidecar.jobs.worker" in imports_of("devstack", "sidecar")


def test_devstack_does_not_import_the_sidecar() -> None:
    assert imports_of("devstack", "sidecar", exempt=("devstack/cli.py",)) == []


def test_devstack_and_the_sidecar_import_nothing_from_the_tests() -> None:
    # `carebase eval copilot` runs without the test suite: what it shares with the tests
    # (acting as a user, serving an app in-process) lives in devstack.
    assert imports_of("devstack", "tests") + imports_of("sidecar", "tests") == []


# What each sidecar folder may import of the sidecar (besides itself); docs/architecture.md.
# settings, errors, observability and rate_limit (the client address, the limits) are the
# app-wide modules at the package's top.
MAY_IMPORT = {
    "routes": {
        "accounts",
        "voice",
        "copilot",
        "exports",
        "messaging",
        "documents",
        "integrations",
        "errors",
        "settings",
        "rate_limit",
    },
    "accounts": {"integrations", "errors", "settings"},
    "voice": {"integrations", "errors", "settings"},
    "copilot": {"integrations", "errors", "settings"},
    "messaging": {"integrations", "errors", "settings"},
    "jobs": {"messaging", "integrations", "errors", "settings", "observability"},
    "integrations": {"errors", "settings", "observability"},
    "exports": set(),
    "documents": set(),  # PDFs and their verification tokens: pure rendering, no I/O
}


@pytest.mark.parametrize("folder", sorted(MAY_IMPORT))
def test_sidecar_folders_import_only_what_the_design_allows(folder: str) -> None:
    allowed = MAY_IMPORT[folder] | {folder}
    beyond = [
        line
        for line in imports_of(f"sidecar/{folder}", "sidecar")
        # `from sidecar import x` lists `sidecar` and `sidecar.x`: the second is judged.
        if (parts := line.split(": ")[1].split("."))[1:] and parts[1] not in allowed
    ]
    assert beyond == []


def test_every_sidecar_folder_has_its_rule() -> None:
    folders = {path.parent.name for path in (ROOT / "sidecar").glob("*/__init__.py")}
    assert folders == set(MAY_IMPORT)
