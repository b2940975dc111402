"""Many mechanics pressing "take the next job" at the same moment, over real HTTP: no job twice."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from execution.domain import Job

from ..factories import access_token, new_id

MECHANICS = 12
JOBS = 8


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def live_url(empty_queue) -> Iterator[str]:
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=ThreadingWSGIServer,
                         handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


# dynalite only: moto's server runs concurrent requests without a lock per item, so two conditional
# updates of one item can both succeed there (DynamoDB and dynalite serialize them).
@pytest.mark.parametrize("dynamo", ["dynalite"], indirect=True)
def test_concurrent_claims_never_hand_out_the_same_job(empty_queue, live_url):
    deps = empty_queue
    jobs = [Job(queue_id=new_id(), priority=1 + n % 5, execution_id=new_id(), service_order_id=new_id(),
                order_number=f"OS-{n}", vehicle={}, items=[], notes="", created_at=f"2026-03-01T08:00:{n:02d}Z")
            for n in range(JOBS)]
    for job in jobs:
        deps.jobs.add(job)

    barrier = threading.Barrier(MECHANICS)
    claims: dict[str, list[str]] = {}
    errors: list[str] = []

    def mechanic(n: int) -> None:
        user_id = f"m{n}"
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {access_token('mechanic', user_id=user_id, username=user_id)}"
        taken: list[str] = []
        barrier.wait()
        while True:
            response = session.post(f"{live_url}/api/v1/work-queue/claim/", timeout=30)
            if response.status_code == 204:
                break
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:200]}")
                break
            assert response.json()["assigned_to"] == user_id
            taken.append(response.json()["queue_id"])
        claims[user_id] = taken

    threads = [threading.Thread(target=mechanic, args=(n,)) for n in range(MECHANICS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    handed_out = Counter(queue_id for taken in claims.values() for queue_id in taken)
    assert set(handed_out) == {job.queue_id for job in jobs}
    assert max(handed_out.values()) == 1, "a job was given to two mechanics"
    for user_id, taken in claims.items():
        for queue_id in taken:
            stored = deps.jobs.get(queue_id).job
            assert (stored.status, stored.assigned_to) == ("ASSIGNED", user_id)
