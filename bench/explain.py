"""EXPLAIN (ANALYZE, BUFFERS) of the SQL the gateway runs for a request, as the caller.

The statements come from the gateway's own planner (devstack.rest: reads.read, rpc.call),
driven with a stand-in for its transaction runner that records them instead of running them;
so the text explained is the text served, placeholders and parameters included. They are
then explained in the transaction the gateway would open (read only for reads), after the
same settings statement (role, `request.jwt.claims`, request GUCs, the role's settings) and
the pre-request function, and rolled back, a booking included.

With a superuser connection (the bench stack's own `supabase_admin`), the statements run
inside functions and policies are captured too, with auto_explain (nested statements, analyzed,
sent to the client as notices), such as the queries inside `find_slots`.

`statement_timeout` is lifted to `timeout` for the EXPLAIN: a plan is wanted even when the
call is far too slow for the gateway's own timeout.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg import pq

from devstack.rest import preferences, reads, rpc, schema_cache, wire
from devstack.rest.identity import authenticate
from devstack.rest.request import ApiRequest
from devstack.rest.transaction import _context_query

NESTED_KEPT = 15  # distinct inner statements written per plan file, by total time


@dataclass(frozen=True)
class Statements:
    request: ApiRequest
    read_only: bool
    queries: list[wire.Query]


class _Captured(Exception):
    """Raised by the recorder with the statements: control flow, not an error."""

    def __init__(self, read_only: bool, queries: list[wire.Query]) -> None:
        self.read_only = read_only
        self.queries = queries


class _Schema:
    def __init__(self, cache: schema_cache.SchemaCache) -> None:
        self.cache = cache

    def remembered(self, key: object, compose: Any) -> Any:
        return compose()


class _Recorder:
    """Stands in for devstack.rest.transaction.Transactions: keeps the statements."""

    def __init__(self, cache: schema_cache.SchemaCache) -> None:
        self.schema = _Schema(cache)

    def commits(self, req: ApiRequest, applied: list[str]) -> bool:
        return True

    async def run(
        self, req: ApiRequest, read_only: bool, queries: list, respond: Any, end: Any = None
    ) -> Any:
        raise _Captured(read_only, list(queries))


async def load_cache(dsn: str) -> schema_cache.SchemaCache:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.set_read_only(True)
        return await schema_cache.load(conn)


def statements(
    cache: schema_cache.SchemaCache,
    secret: str,
    token: str,
    method: str,
    path: str,
    body: str | None,
) -> Statements:
    """The statements the gateway runs for `method path` (under /rest/v1) with this token."""
    url = urlsplit(path)
    query = url.query
    pairs = parse_qsl(query, keep_blank_values=True)
    target = url.path.removeprefix("/rpc/").lstrip("/")
    req = ApiRequest(
        method=method,
        target=target,
        path=url.path,
        identity=authenticate(f"Bearer {token}", secret),
        prefs=preferences.parse([], frozenset()),
        params=tuple(pairs),
        query_string=query.encode(),
        accept=None,
        content_type="application/json",
        range=None,
        headers_json="{}",
        cookies_json="{}",
        body=(body or "").encode(),
    )
    recorder = _Recorder(cache)
    try:
        if url.path.startswith("/rpc/"):
            asyncio.run(rpc.call(recorder, req))  # type: ignore[arg-type]
        else:
            asyncio.run(reads.read(recorder, req, cache.relations[target]))  # type: ignore[arg-type]
    except _Captured as captured:
        return Statements(req, captured.read_only, captured.queries)
    raise RuntimeError(f"the gateway ran nothing for {method} {path}")


@dataclass(frozen=True)
class Explained:
    plan: str  # EXPLAIN's text
    nested: str  # the statements run inside, summarized ("" without auto_explain)
    analyzed: bool
    error: str | None = None


def _exec(pgconn: pq.abc.PGconn, text: bytes, params: tuple = ()) -> Any:
    result = pgconn.exec_params(text, list(params))
    if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        message = (result.error_message or b"").decode(errors="replace").strip()
        raise psycopg.Error(message)
    return result


AUTO_EXPLAIN = [
    "load 'auto_explain'",
    "set auto_explain.log_analyze = on",
    "set auto_explain.log_buffers = on",
    "set auto_explain.log_nested_statements = on",
    "set auto_explain.log_level = notice",
]


def explain(
    conn: psycopg.Connection,
    cache: schema_cache.SchemaCache,
    found: Statements,
    analyze: bool,
    nested: bool,
    timeout: str = "120s",
    read_only_target: bool = False,
) -> Explained:
    """EXPLAIN the first statement (the page, or the call) in the request's transaction,
    rolled back. `read_only_target`: the database must not be written (someone else's):
    writing calls are planned, not run (no ANALYZE), and everything runs read only."""
    analyzed = analyze and not (found.read_only is False and read_only_target)
    try:
        plan = _explain_once(conn, cache, found, analyzed, timeout, read_only_target, None)
    except psycopg.Error as failure:
        return Explained("", "", analyzed, str(failure).strip())
    inside = ""
    if nested and analyzed:
        # Again with auto_explain: its instrumentation of every inner statement slows the
        # call, so the plan and timings above come from the run without it.
        notices: list[str] = []
        try:
            _explain_once(conn, cache, found, analyzed, timeout, read_only_target, notices)
            inside = summarize_nested(notices)
        except psycopg.Error as failure:
            inside = f"(not captured: {str(failure).strip()})"
    return Explained(plan, inside, analyzed)


def _explain_once(
    conn: psycopg.Connection,
    cache: schema_cache.SchemaCache,
    found: Statements,
    analyzed: bool,
    timeout: str,
    read_only_target: bool,
    notices: list[str] | None,
) -> str:
    """One EXPLAIN in the request's transaction, rolled back; with `notices`, auto_explain's
    plans of the statements run inside are appended to it."""
    req = found.request
    writes = not found.read_only
    pgconn = conn.pgconn

    def handler(diag: psycopg.errors.Diagnostic) -> None:
        if notices is not None:
            notices.append(diag.message_primary or "")

    if notices is not None:
        for setting in AUTO_EXPLAIN:
            conn.execute(setting)
        conn.add_notice_handler(handler)
    head = b"begin read only" if found.read_only or read_only_target else b"begin read write"
    try:
        _exec(pgconn, head)
        if notices is not None:  # a superuser setting: before the role changes
            _exec(pgconn, b"set local auto_explain.log_min_duration = 0")
        context = _context_query(req, cache.role_settings.get(req.identity.role, []))
        _exec(pgconn, context.text, context.params)
        _exec(pgconn, f"set local statement_timeout = '{timeout}'".encode())
        pre_request = cache.db_config.get("pgrst.db_pre_request")
        if pre_request and not (writes and read_only_target):
            _exec(pgconn, f"select {pre_request}()".encode())
        query = found.queries[0]
        if notices is not None:
            notices.clear()  # what ran before the statement (settings, pre-request) is not in it
        options = b"analyze, buffers" if analyzed else b"costs"
        result = _exec(pgconn, b"explain (" + options + b") " + query.text, query.params)
        return "\n".join(result.get_value(i, 0).decode() for i in range(result.ntuples))
    finally:
        pgconn.exec_(b"rollback")
        if notices is not None:
            conn.remove_notice_handler(handler)


_DURATION = re.compile(r"^duration: ([\d.]+) ms\s+plan:\s*$", re.MULTILINE)


def summarize_nested(notices: list[str]) -> str:
    """auto_explain's notices grouped by statement text: how often each ran, its total time,
    and the plan of its slowest run; the top statement (the EXPLAIN itself) left out."""
    groups: dict[str, list[tuple[float, str]]] = {}
    for notice in notices:
        match = _DURATION.match(notice)
        if not match:
            continue
        body = notice[match.end() :].lstrip("\n")
        # A statement's text may run over several lines before its plan starts.
        lines = body.splitlines()
        start = next(
            (i for i, line in enumerate(lines) if _NODE.match(line) and "cost=" in line), 1
        )
        query = " ".join(" ".join(lines[:start]).removeprefix("Query Text:").split())
        plan = "\n".join(lines[start:])
        if query.lower().startswith("explain"):
            continue
        groups.setdefault(query, []).append((float(match.group(1)), plan))
    if not groups:
        return ""
    ranked = sorted(groups.items(), key=lambda item: -sum(ms for ms, _ in item[1]))
    runs = sum(len(v) for v in groups.values())
    out = [
        f"{runs} statements ran inside ({len(groups)} distinct), by total time"
        f" (the {min(NESTED_KEPT, len(ranked))} costliest shown with their slowest plan):",
        "",
    ]
    for query, timings in ranked[:NESTED_KEPT]:
        total = sum(ms for ms, _ in timings)
        slowest_ms, slowest_plan = max(timings, key=lambda t: t[0])
        out += [
            f"-- {len(timings)} run(s), {total:.3f} ms in all, slowest {slowest_ms:.3f} ms",
            f"-- {query[:400]}",
            slowest_plan.rstrip(),
            "",
        ]
    return "\n".join(out)


# A plan node: `Seq Scan on appointments a  (cost=0.00..1.00 rows=10 width=8) (actual
# time=0.01..0.02 rows=3 loops=1)`, possibly after `->`.
_NODE = re.compile(
    r"^\s*(?:->\s+)?(?P<node>[A-Z][^(]*?)\s+\(cost=[\d.]+\.\.[\d.]+ rows=(?P<est>\d+) width=\d+\)"
    r"(?: \(actual time=[\d.]+\.\.[\d.]+ rows=(?P<actual>\d+) loops=(?P<loops>\d+)\)"
    r"| \(never executed\))?"
)


WRAPPERS = {"Aggregate", "Subquery Scan on pgrst_row", "Limit", "Result"}
BITMAP_SETS = {"BitmapAnd", "BitmapOr"}
# Nodes that read all their input before they answer: a Limit above them does not stop it.
CONSUMING = {"Sort", "Incremental Sort", "Hash", "HashAggregate", "GroupAggregate", "Aggregate"}
CONSUMING |= {"Materialize", "Bitmap Heap Scan"}  # the latter builds its whole bitmap first


@dataclass(frozen=True)
class KeyLines:
    top: str  # the first node under the gateway's wrapper, with estimated and actual rows
    worst: str  # the node whose estimate is furthest from what it found
    execution_ms: float | None
    planning_ms: float | None
    jit: str  # "" or "N functions, X ms"
    buffers: str  # the top node's shared buffers (hit / read)


def key_lines(plan: str) -> KeyLines:
    """What a before/after comparison of a plan needs first (see the plan file for the rest)."""
    nodes = []
    stopped = set()  # nodes a Limit stopped early: they found fewer rows than they would
    parents: list[tuple[int, str]] = []  # (indentation, name) of the nodes above
    for line in plan.splitlines():
        match = _NODE.match(line)
        if match:
            name = match["node"].strip()
            indent = match.start("node")
            while parents and parents[-1][0] >= indent:
                parents.pop()
            for _, above in reversed(parents):  # the nearest Limit or consuming node
                if above == "Limit":
                    stopped.add(len(nodes))
                if above == "Limit" or above.split(" on ")[0] in CONSUMING:
                    break
            parents.append((indent, name))
            actual = match["actual"]
            nodes.append(
                (
                    name,
                    int(match["est"]),
                    int(actual) if actual is not None else None,
                    int(match["loops"] or 1),
                )
            )

    analyzed = "Execution Time:" in plan

    def shown(node: tuple[str, int, int | None, int]) -> str:
        name, est, actual, loops = node
        if not analyzed:
            return f"{name} (est {est:,}, not run)"
        found = "never" if actual is None else f"{actual:,}" + (f" x{loops}" if loops > 1 else "")
        return f"{name} (est {est:,}, actual {found})"

    def misestimate(node: tuple[str, int, int | None, int]) -> float:
        _, est, actual, _ = node
        if actual is None:
            return 0.0
        return max(est, 1) / max(actual, 1) if est > actual else max(actual, 1) / max(est, 1)

    execution = re.search(r"Execution Time: ([\d.]+) ms", plan)
    planning = re.search(r"Planning Time: ([\d.]+) ms", plan)
    jit_functions = re.search(r"^\s*Functions: (\d+)", plan, re.MULTILINE)
    jit_total = re.search(r"^\s*Timing: .*Total ([\d.]+) ms", plan, re.MULTILINE)
    buffers = re.search(r"^\s*Buffers: (shared [^\n]*)", plan, re.MULTILINE)
    # Ties go to the deepest node (the scan whose estimate the nodes above inherit). Bitmap
    # And / Or nodes always report 0 rows found, and a node under a Limit stops early: they
    # say nothing of the estimate.
    candidates = [
        n
        for i, n in enumerate(nodes)
        if n[0] not in WRAPPERS and n[0] not in BITMAP_SETS and i not in stopped
    ] or nodes
    worst = max(reversed(candidates), key=misestimate) if candidates else None
    # The gateway wraps every read in the same nodes (json_agg over a subquery, the limit);
    # a call is its function's scan, beside the scan of its arguments.
    called = [n for n in nodes if n[0].startswith("Function Scan on ") and "pgrst_args" not in n[0]]
    inner = called or [n for n in nodes if n[0] not in WRAPPERS] or nodes
    return KeyLines(
        top=shown(inner[0]) if inner else "",
        worst=shown(worst) if worst and misestimate(worst) > 1 else "",
        execution_ms=float(execution.group(1)) if execution else None,
        planning_ms=float(planning.group(1)) if planning else None,
        jit=(
            f"{jit_functions.group(1)} functions, {float(jit_total.group(1)):.0f} ms"
            if jit_functions and jit_total
            else f"{jit_functions.group(1)} functions"
            if jit_functions
            else ""
        ),
        buffers=buffers.group(1).strip() if buffers else "",
    )


def plan_file_text(
    title: str,
    method: str,
    path: str,
    body: str | None,
    found: Statements,
    explained: Explained,
    header: str,
) -> str:
    """The plan file: what was asked, the SQL served, its plan, the statements inside."""
    query = found.queries[0]
    params = [p.decode() if p is not None else None for p in query.params]
    parts = [
        f"-- {title}",
        f"-- {header}",
        f"-- request: {method} /rest/v1{path}" + (f"  body: {body}" if body else ""),
        f"-- claims: {found.request.identity.claims_json}",
        f"-- transaction: {'read only' if found.read_only else 'read write'}, rolled back; "
        + (
            "EXPLAIN (ANALYZE, BUFFERS)"
            if explained.analyzed
            else "EXPLAIN without ANALYZE (a write, on a database that is not the bench's)"
        ),
        "",
        query.text.decode(),
        f"-- parameters: {json.dumps(params, ensure_ascii=False)}",
        "",
    ]
    if explained.error:
        parts += [f"-- failed: {explained.error}", ""]
    parts += [explained.plan, ""]
    if explained.nested:
        parts += ["-- inside (auto_explain)", explained.nested]
    return "\n".join(parts).rstrip() + "\n"
