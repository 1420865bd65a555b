"""`dealgraph serve --workers 2`: two API processes on one port, each serving GraphQL with the same data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from dealgraph.agents.standin import RunningStandin
from tests.processes import process_env, serving
from tests.support import REFUSAL_DEADLINE_S, TenantFactory, refused_within

VIEWER = "{ viewer { role tenant { slug } } }"


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


async def test_two_workers_serve_and_hear_revocations(
    tenants: TenantFactory, database_url: str, standin_server: RunningStandin
) -> None:
    who = await tenants.create()
    env = process_env(database_url, standin_server.base_url, worker_slots="0")
    with serving(env, "--workers", "2") as (base_url, process):
        assert len(children(process.process.pid)) >= 2, process.output()
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post("/graphql", json={"query": VIEWER}, headers=who.headers) for _ in range(20))
            )
            assert {a.status_code for a in answers} == {200}
            assert {a.json()["data"]["viewer"]["role"] for a in answers} == {"ADMIN"}
            await tenants.revoke(who)  # every process's principal cache drops the key
            await refused_within(client, who, REFUSAL_DEADLINE_S)
            for _ in range(10):
                assert (await client.post("/graphql", json={"query": VIEWER}, headers=who.headers)).status_code == 401
