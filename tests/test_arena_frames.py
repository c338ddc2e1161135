"""The arena's frames: a growing answer goes to the run's live feed piece by piece and its pane
is not sent again; a pane goes whole through Gradio when more than its answer changed (or, with
the results, while no socket reads the feed); a replaced answer starts over on the feed. The
feed: read from its first piece by a late reader, ended with its run, forgotten after a while;
its WebSocket sends the pieces and closes, and refuses a key it does not know. And
``run_arena(quiet_s=…)`` says when the streams went quiet, so a frame held back goes out."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.sync.client import connect

from playground.turn.arena import ArenaColumn, ArenaRun, ArenaSession, run_arena
from playground.turn.events import TextChunk, TextReplaced, TurnStarted
from playground.ui.arena_frames import TEXT_FEED, ArenaFrames
from playground.ui.live_feed import LiveFeed, LiveFeeds, live_router
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import live_server
from tests.test_arena import request, runner_for


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _run(columns: int = 2) -> ArenaRun:
    labels = [f"column {n}" for n in range(1, columns + 1)]
    run = ArenaRun("hi", labels, [ArenaColumn(label) for label in labels])
    run.next_round()
    return run


def _start(column: ArenaColumn) -> None:
    started = TurnStarted("turn_x", "openai:gpt-4o-mini", "p@1", "prompt", True, None, ())
    column.state.handle(started)


def _chunk(column: ArenaColumn, text: str) -> None:
    snapshot = column.state.text + text
    seq = len(column.state.chunks)
    column.state.handle(TextChunk(text, snapshot, seq, 100.0 + seq, 1.0))


def _pieces(feed: LiveFeed) -> list[list[object]]:
    return [json.loads(piece) for piece in feed.pieces]


def test_a_growing_answer_goes_to_the_feed_and_the_pane_stays_as_it_was() -> None:
    feed = LiveFeeds().open()
    run, session, frames = _run(), ArenaSession(), ArenaFrames(feed)
    first = frames.frame(run, session, results=True, audible=0)
    assert "starting" in first[0] and first[TEXT_FEED] == feed.key
    assert frames.changed(first)
    _start(run.columns[0])
    _chunk(run.columns[0], "Hello")
    second = frames.frame(run, session, results=False, audible=0)
    # Its status changed (streaming…): the pane whole, to Gradio (no socket reads yet) and on
    # the feed, numbered (the page keeps the newest rendering, whichever way it came).
    assert "streaming" in second[0] and "Hello" in second[0] and "data-seq='2'" in second[0]
    assert second[1] is first[1]  # column 2 did not change: the same value, nothing sent
    index, kind, html, seq = _pieces(feed)[-1]
    assert (index, kind, seq) == (0, "pane", 2) and "Hello" in str(html)
    assert frames.changed(second)
    _chunk(run.columns[0], ", <world>")
    third = frames.frame(run, session, results=False, audible=0)
    assert third[0] is second[0]  # only its answer grew: the pane is not redrawn…
    assert _pieces(feed)[-1] == [0, 5, ", <world>"]  # …the new piece goes to the feed
    assert not frames.changed(third)  # and Gradio is sent nothing
    count = len(feed.pieces)
    frames.frame(run, session, results=False, audible=0)
    assert len(feed.pieces) == count  # nothing new, nothing added


def test_with_no_socket_reading_the_panes_go_whole_with_the_results() -> None:
    feed = LiveFeeds().open()
    run, session, frames = _run(1), ArenaSession(), ArenaFrames(feed)
    _start(run.columns[0])
    _chunk(run.columns[0], "one")
    frames.frame(run, session, results=False, audible=0)
    _chunk(run.columns[0], " two")
    assert "one two" in frames.frame(run, session, results=True, audible=0)[0]
    feed.followers = 1  # a socket reads the feed: the results go without the panes
    _chunk(run.columns[0], " three")
    assert "three" not in frames.frame(run, session, results=True, audible=0)[0]


def test_while_a_socket_reads_a_new_status_goes_there_and_gradio_gets_the_end() -> None:
    feed = LiveFeeds().open()
    run, session, frames = _run(1), ArenaSession(), ArenaFrames(feed)
    first = frames.frame(run, session, results=False, audible=0)
    assert frames.changed(first)
    feed.followers = 1
    _start(run.columns[0])
    _chunk(run.columns[0], "one")
    second = frames.frame(run, session, results=False, audible=0)
    assert second[0] is first[0] and not frames.changed(second)  # nothing for Gradio
    index, kind, html, seq = _pieces(feed)[-1]
    assert (index, kind) == (0, "pane") and "streaming" in str(html) and "one" in str(html)
    _chunk(run.columns[0], " two")
    last = frames.frame(run, session, results=True, audible=0, final=True)
    # The run's last frame: Gradio has all, numbered past what the socket brought.
    assert "streaming" in last[0] and "one two" in last[0]
    assert f"data-seq='{int(str(seq)) + 1}'" in last[0]


def test_a_page_without_a_feed_gets_every_pane_whole() -> None:
    run, session, frames = _run(1), ArenaSession(), ArenaFrames()
    _start(run.columns[0])
    _chunk(run.columns[0], "one")
    frames.frame(run, session, results=False, audible=0)
    _chunk(run.columns[0], " two")
    shown = frames.frame(run, session, results=False, audible=0)
    assert "one two" in shown[0] and shown[TEXT_FEED] == ""


def test_a_replaced_answer_redraws_its_pane_and_starts_over_on_the_feed() -> None:
    feed = LiveFeeds().open()
    run, session, frames = _run(1), ArenaSession(), ArenaFrames(feed)
    column = run.columns[0]
    _start(column)
    _chunk(column, "The secret is 42")
    frames.frame(run, session, results=False, audible=0)
    column.state.handle(TextReplaced("[withheld]", "guardrail"))
    shown = frames.frame(run, session, results=False, audible=0)
    assert "[withheld]" in shown[0] and "secret" not in shown[0]
    index, kind, html, _ = _pieces(feed)[-1]
    assert (index, kind) == (0, "pane") and "[withheld]" in str(html) and "secret" not in str(html)


async def test_a_feed_is_read_from_its_first_piece_until_its_run_ends() -> None:
    feed = LiveFeeds().open()
    feed.push([0, 0, "a"])
    read: list[str] = []

    async def follow() -> None:
        async for piece in feed.follow():
            read.append(piece)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0)
    assert read == ['[0,0,"a"]'] and feed.followers == 1  # a late reader gets what came before
    feed.push([0, 1, "b"])
    await asyncio.sleep(0)
    assert read[-1] == '[0,1,"b"]'  # and each piece as it comes
    feed.end()
    await asyncio.wait_for(follower, 5)
    assert feed.followers == 0


def test_ended_feeds_are_forgotten_after_a_while_and_keys_are_not_guessable() -> None:
    feeds = LiveFeeds(linger_s=0.0)
    one, two = feeds.open(), feeds.open()
    assert one.key != two.key and len(one.key) >= 24
    assert feeds.get(one.key) is one
    one.end()
    time.sleep(0.01)
    assert feeds.get(one.key) is None and feeds.get(two.key) is two  # a running one stays
    full = LiveFeeds(max_feeds=2)
    first = full.open()
    first.end()
    full.open()
    full.open()  # at capacity: the oldest ended feed makes room
    assert full.get(first.key) is None


async def test_a_run_takes_the_key_its_page_made_but_never_one_in_use() -> None:
    feeds = LiveFeeds(wait_s=5.0)
    key = "k" * 22
    waiting = asyncio.create_task(feeds.wait_for(key))  # the socket Send opened
    await asyncio.sleep(0)
    feed = feeds.open(key)
    assert feed.key == key and await asyncio.wait_for(waiting, 5) is feed
    assert feeds.open(key).key != key  # in use: a fresh one, nobody else's pieces
    assert feeds.open("short").key != "short" and feeds.open(None).key
    assert await LiveFeeds(wait_s=0.01).wait_for("n" * 22) is None  # no such run came


def test_the_socket_sends_a_runs_pieces_then_closes_and_refuses_a_key_it_does_not_know() -> None:
    feeds = LiveFeeds()
    app = FastAPI()
    app.include_router(live_router(feeds))
    feed = feeds.open()
    feed.push([0, 0, "Hello"])
    feed.end()
    with live_server(app) as url:
        base = url.replace("http://", "ws://")
        with connect(f"{base}/ui/live/{feed.key}") as socket:
            assert json.loads(socket.recv(timeout=10)) == [0, 0, "Hello"]
            with pytest.raises(ConnectionClosedOK):
                socket.recv(timeout=10)
        with connect(f"{base}/ui/live/not-a-key") as socket:
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_run_arena_says_once_when_the_streams_went_quiet(fake: FakeOpenAI) -> None:
    runner, creds = runner_for(fake)
    gate = threading.Event()
    fake.enqueue(Reply(chunks=["one ", "two."], gate=gate, gate_after=1))
    columns = [ArenaColumn("a")]
    seen: list[str | None] = []  # the answer at each yield; None: the quiet was reported

    async def watch() -> None:
        async for column in run_arena(runner, columns, [request()], creds, quiet_s=0.05):
            seen.append(None if column is None else column.state.text)
            if column is None and "one " in seen:
                gate.set()  # the reply goes on only once the quiet after its first text came

    await asyncio.wait_for(watch(), 30)
    assert columns[0].state.text == "one two."
    assert seen.index(None, seen.index("one ")) < seen.index("one two.")
    # Once per quiet spell: never two in a row.
    assert all(not (a is None and b is None) for a, b in itertools.pairwise(seen))
