"""CPU-bound tools run in worker processes: a timeout really stops the work, and the event loop
(every other request) stays responsive meanwhile."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from playground.agent.calculator import CALCULATOR
from playground.agent.nodes import CompletedToolCall, run_tool
from playground.agent.tool_process import ToolProcesses
from playground.agent.tool_types import Tool


def hold_the_gil(arguments: dict[str, Any]) -> str:
    """A deliberately slow CPU-bound tool: one C-level big-integer power (tens of seconds) that
    never releases the GIL, the way ``(((9**99)**99)**99)**12`` did. It first tells the test,
    over a Unix socket, which process it runs in."""
    with socket.socket(socket.AF_UNIX) as announce:
        announce.connect(arguments["socket"])
        announce.sendall(str(os.getpid()).encode())
    return str((10**10_000_000).bit_length())


SLOW = Tool("slow", "holds the GIL", {"type": "object"}, hold_the_gil, cpu_bound=True)


@pytest.fixture
def processes() -> Iterator[ToolProcesses]:
    pool = ToolProcesses()
    yield pool
    pool.close()


def _call(name: str, arguments: dict[str, Any]) -> CompletedToolCall:
    return CompletedToolCall("call_1", name, "", arguments, None, time.monotonic())


async def _largest_gap_while(work: asyncio.Task[Any], tick_s: float = 0.02) -> float:
    """Tick on the event loop until ``work`` is done; the longest time between ticks."""
    largest, last = 0.0, time.monotonic()
    while not work.done():
        await asyncio.sleep(tick_s)
        now = time.monotonic()
        largest, last = max(largest, now - last), now
    return largest


@pytest.fixture
async def announced() -> AsyncIterator[tuple[str, asyncio.Future[int]]]:
    """A socket path for ``hold_the_gil`` and a future resolved with the pid it announces."""
    pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pid.set_result(int(await reader.read()))
        writer.close()

    # A short directory: a Unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        path = f"{folder}/s"
        server = await asyncio.start_unix_server(on_connect, path)
        async with server:
            yield path, pid


def _exits_within(pid: int, timeout_s: float) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # already gone and reaped
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)  # readable once the process has exited
        return bool(poller.poll(timeout_s * 1000))
    finally:
        os.close(fd)


async def test_a_slow_cpu_bound_tool_times_out_without_freezing_the_loop_and_really_stops(
    processes: ToolProcesses, announced: tuple[str, asyncio.Future[int]]
) -> None:
    path, announced_pid = announced
    tools = {"slow": SLOW}
    started = time.monotonic()
    work = asyncio.create_task(
        run_tool(
            _call("slow", {"socket": path}),
            tools=tools,
            timeout_s=5,
            processes=processes,
        )
    )
    gap = await _largest_gap_while(work)
    outcome = await work
    assert outcome.is_error and "longer than 5 s" in outcome.output
    assert time.monotonic() - started < 20, "the timeout ended the call"
    assert gap < 1.0, f"the event loop stalled for {gap:.1f} s while the tool ran"
    assert announced_pid.done(), "the slow work had started before the timeout"
    pid = announced_pid.result()
    assert pid != os.getpid(), "the tool ran inside the server process"
    assert _exits_within(pid, 10), "the timed-out work is still running"


async def test_workers_are_reused_and_a_killed_one_is_replaced(
    processes: ToolProcesses, announced: tuple[str, asyncio.Future[int]]
) -> None:
    tools = {"calculator": CALCULATOR, "slow": SLOW}
    first = await run_tool(_call("calculator", {"expression": "6 * 7"}), processes=processes)
    second = await run_tool(_call("calculator", {"expression": "2 ^ 10"}), processes=processes)
    assert (first.output, second.output) == ("42", "1024")
    assert processes.started == 1, "the second call reused the first worker"
    timed_out = await run_tool(
        _call("slow", {"socket": announced[0]}),
        tools=tools,
        timeout_s=0.5,
        processes=processes,
    )
    assert timed_out.is_error
    after = await run_tool(_call("calculator", {"expression": "1 + 1"}), processes=processes)
    assert after.output == "2" and not after.is_error
    assert processes.started == 2, "the killed worker was replaced by a fresh one"


async def test_bad_input_in_a_worker_is_a_tool_error_for_the_model(
    processes: ToolProcesses,
) -> None:
    outcome = await run_tool(_call("calculator", {"expression": "x + 1"}), processes=processes)
    assert outcome.is_error and outcome.output.startswith("error: unsupported element")
    missing = await run_tool(_call("calculator", {}), processes=processes)
    assert missing.is_error and "'expression'" in missing.output


async def test_a_cancelled_call_kills_its_worker(
    processes: ToolProcesses, announced: tuple[str, asyncio.Future[int]]
) -> None:
    path, announced_pid = announced
    work = asyncio.create_task(
        run_tool(
            _call("slow", {"socket": path}),
            tools={"slow": SLOW},
            timeout_s=60,
            processes=processes,
        )
    )
    pid = await asyncio.wait_for(announced_pid, 30)  # the slow work is running
    work.cancel()
    with pytest.raises(asyncio.CancelledError):
        await work
    assert pid == processes.last_pid != os.getpid()
    assert _exits_within(pid, 10)
