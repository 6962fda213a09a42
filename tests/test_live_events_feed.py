"""The live-event feed over HTTP (issue 13, item 2): a client that reconnects asks
`/rest/v1/live_events?topic=eq.<topic>&seq=gt.<last seen>&order=seq` and gets exactly what it
missed, with the seq its broadcasts carried; a user who may not join the topic gets nothing.
Who may join what, and what each change raises: supabase/tests/live_topics.test.sql and
live_events.test.sql; numbering across concurrent commits: tests/test_live_events.py."""

from __future__ import annotations

import httpx
import psycopg

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession

FRONT_DESK = "frontdesk@nabha.carebase.test"


def headers(stack: Settings, user: str) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(user)
    return {"apikey": stack.anon_key, "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}"}


def test_a_reconnecting_client_reads_what_it_missed_and_only_its_own_topics(
    stack: Settings, gateway: str
) -> None:
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (topic,) = conn.execute(
            "select 'hospital:' || h.id || ':front_desk' from public.hospitals as h"
            " where h.code = 'NAB'"
        ).fetchone()
        (patient,) = conn.execute(
            "select user_id::text from public.patients where user_id is not null limit 1"
        ).fetchone()
        (last_seen,) = conn.execute(
            "select coalesce(max(seq), 0) from public.live_events where topic = %s", (topic,)
        ).fetchone()
        # Three events while the client is away, each committed on its own.
        for n in range(3):
            conn.execute(
                "select private.raise_live_event(array[%s], 'test_ping',"
                " jsonb_build_object('n', %s))",
                (topic, n),
            )
        sent = conn.execute(
            "select (payload ->> 'seq')::bigint, (payload ->> 'n')::int from realtime.messages"
            " where topic = %s and event = 'test_ping' order by 1",
            (topic,),
        ).fetchall()

    url = f"{gateway}/rest/v1/live_events"
    query = {"topic": f"eq.{topic}", "seq": f"gt.{last_seen}", "order": "seq"}
    response = httpx.get(url, params=query, headers=headers(stack, FRONT_DESK))
    assert response.status_code == 200, response.text
    missed = [(row["seq"], row["event"], row["payload"]["n"]) for row in response.json()]
    assert missed == [(last_seen + n + 1, "test_ping", n) for n in range(3)]
    assert [(seq, n) for seq, _, n in missed] == sent[-3:], "the broadcasts carried the same seqs"

    response = httpx.get(url, params=query, headers=headers(stack, patient))
    assert response.status_code == 200, response.text
    assert response.json() == [], "a patient reads nothing of a hospital topic"

    anonymous = {"apikey": stack.anon_key, "Authorization": f"Bearer {stack.anon_key}"}
    response = httpx.get(url, params=query, headers=anonymous)
    assert response.status_code == 401
