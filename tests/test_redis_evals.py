"""API evals shared between replicas through Redis (``PLAYGROUND_REDIS_URL``): two app servers on
one real ``redis-server``. An eval running on one replica is read through the other while it
runs and after it ends (its results, its CSV, a comparison with an earlier one), a cancel sent
through the other stops it where it runs (its upstream closes, its stream ends stopped), and
another caller never sees it."""

from __future__ import annotations

import csv
import io
import threading

import httpx

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.redis_support import RedisServer
from tests.support import live_server, make_test_services, parse_sse_lines, wait_until

MINI = {"model": "openai:gpt-4o-mini"}


def test_an_eval_is_read_compared_and_cancelled_through_another_replica(
    redis_server: RedisServer,
) -> None:
    with FakeOpenAI() as fake:
        held = threading.Event()
        fake.replies_for.update(
            {
                "first": Reply(chunks=["One."]),
                "second": Reply(chunks=["Tw", "o."], gate=held, gate_after=1),
            }
        )
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
            # Behind a (pretend) proxy: X-Forwarded-For plays a second caller below.
            "playground_trust_forwarded_for": True,
        }
        cases = [{"message": "first", "assert": [{"type": "contains", "value": "One"}]}]
        with (
            live_server(build_app(make_test_services(**settings), warm_up=False)) as runs_it,
            live_server(build_app(make_test_services(**settings), warm_up=False)) as other,
            httpx.Client(timeout=30) as client,
        ):
            # A finished eval, read through the other replica.
            with client.stream(
                "POST", f"{runs_it}/v1/evals", json={"cases": cases, "configurations": [MINI]}
            ) as response:
                before = list(parse_sse_lines(response.iter_lines()))
            before_id = before[0].data["eval_id"]
            stored = client.get(f"{other}/v1/evals/{before_id}")
            assert stored.status_code == 200, stored.text
            assert stored.json()["status"] == "finished"
            assert [r["text"] for r in stored.json()["results"]] == ["One."]
            stranger = {"X-Forwarded-For": "192.0.2.7"}
            unseen = client.get(f"{other}/v1/evals/{before_id}", headers=stranger)
            assert unseen.status_code == 404

            # A running eval: seen running through the other replica, cancelled through it.
            body = {
                "cases": [*cases, {"message": "second"}],
                "configurations": [MINI],
                "concurrency": 1,
            }
            asked = len(fake.chat_requests)
            names: list[str] = []
            try:
                with client.stream("POST", f"{runs_it}/v1/evals", json=body) as response:
                    for event in parse_sse_lines(response.iter_lines()):
                        names.append(event.event)
                        if event.event == "eval-start":
                            eval_id = event.data["eval_id"]
                        elif event.event == "case-result":
                            # The second case is held mid-answer at the fake: cancel it now.
                            assert wait_until(lambda: len(fake.chat_requests) >= asked + 2, 20)
                            url = f"{other}/v1/evals/{eval_id}"

                            def shows_first_result() -> bool:
                                seen = client.get(url).json()  # noqa: B023 - read at once
                                return seen["status"] == "running" and len(seen["results"]) == 1

                            assert wait_until(shows_first_result, 10)
                            answer = client.post(f"{url}/cancel").json()
                            assert answer == {"eval_id": eval_id, "status": "stopping"}
                        elif event.event == "eval-end":
                            assert event.data["stopped"] is True
                assert fake.wait_for_disconnect(timeout=20), "the held run is still open"
            finally:
                held.set()
            assert names == ["eval-start", "case-result", "eval-end", "end"]

            def stopped() -> bool:
                status = client.get(f"{other}/v1/evals/{eval_id}").json()["status"]
                return bool(status == "stopped")

            assert wait_until(stopped, 10)
            done = client.post(f"{other}/v1/evals/{eval_id}/cancel").json()
            assert done == {"eval_id": eval_id, "status": "finished"}

            # The CSV and a comparison of the two, through the replica that ran neither.
            exported = client.get(f"{other}/v1/evals/{before_id}/results.csv")
            rows = list(csv.DictReader(io.StringIO(exported.text)))
            assert [(r["case"], r["passed"], r["text"]) for r in rows] == [("0", "True", "One.")]
            fake.replies_for["first"] = Reply(chunks=["Uno."])
            with client.stream(
                "POST", f"{runs_it}/v1/evals", json={"cases": cases, "configurations": [MINI]}
            ) as response:
                after_id = list(parse_sse_lines(response.iter_lines()))[0].data["eval_id"]
            compared = client.get(f"{other}/v1/evals/{after_id}/compare/{before_id}")
            assert compared.status_code == 200, compared.text
            assert compared.json()["now_failing"] == [
                {"case": 0, "configuration": 0, "before": 1.0, "after": 0.0}
            ]


def test_a_client_runs_at_most_two_evals_at_once_across_replicas(
    redis_server: RedisServer,
) -> None:
    with FakeOpenAI() as fake:
        held = threading.Event()
        fake.replies_for["hold"] = Reply(chunks=["a", "b"], gate=held, gate_after=1)
        settings = {
            "openai_api_key": "test-key",
            "openai_base_url": fake.base_url,
            "playground_redis_url": redis_server.url,
        }
        body = {"cases": [{"message": "hold on"}], "configurations": [MINI]}
        with (
            live_server(build_app(make_test_services(**settings), warm_up=False)) as one,
            live_server(build_app(make_test_services(**settings), warm_up=False)) as two,
            httpx.Client(timeout=30) as client,
        ):
            asked = len(fake.chat_requests)
            streams = [client.stream("POST", f"{url}/v1/evals", json=body) for url in (one, two)]
            try:
                responses = [s.__enter__() for s in streams]
                assert [r.status_code for r in responses] == [200, 200]
                assert wait_until(lambda: len(fake.chat_requests) >= asked + 2, 20)
                for url in (one, two):
                    third = client.post(f"{url}/v1/evals", json=body)
                    assert third.status_code == 429, third.text
                    assert "2 evals of yours are running" in third.json()["error"]["message"]
            finally:
                held.set()
                for response in responses:
                    response.read()  # to its end: by then the eval has let its place go
                for stream in streams:
                    stream.__exit__(None, None, None)
            # Ended, they no longer count, through either replica.
            again = client.post(f"{two}/v1/evals", json=body)
            assert again.status_code == 200, again.text
