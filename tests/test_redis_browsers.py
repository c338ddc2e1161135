"""What each browser keeps, in Redis (``PLAYGROUND_REDIS_URL``): two replicas' services, each
with its own notebook file, on one real ``redis-server``. A notebook written through one is read
through the other, as are kept prompt versions (numbered across both without a clash) and eval
runs and the test set; each browser sees only its own; the bounds per browser hold and every key
expires; Redis out of reach is an ``OSError`` that leaves the stored notebook alone, and the
page still opens on an empty one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis import Redis

from playground.notebook.access import Notebooks
from playground.notebook.model import Notebook
from playground.notebook.store import new_owner_id
from playground.services import Services
from playground.state.redis_browsers import RedisNotebookStore
from tests.redis_support import RedisServer
from tests.support import make_test_services
from tests.test_eval_history import record, result
from tests.test_notebook import make_notebook

DAY = 86_400


def replica(redis_server: RedisServer, folder: Path, **settings: object) -> Services:
    # Each replica has a notebook file of its own: what the other sees can only be in Redis.
    return make_test_services(
        playground_redis_url=redis_server.url,
        playground_notebook_db=str(folder / "notebooks.sqlite3"),
        **settings,
    )


def notebooks_of(services: Services) -> Notebooks:
    assert services.notebooks is not None
    return services.notebooks


async def test_a_notebook_written_through_one_replica_is_read_through_another(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    one = notebooks_of(replica(redis_server, tmp_path / "a", playground_notebook_max_cells=3))
    two = notebooks_of(replica(redis_server, tmp_path / "b", playground_notebook_max_cells=3))
    assert isinstance(one.store, RedisNotebookStore)
    owner, stranger = new_owner_id(), new_owner_id()
    written = make_notebook(2)
    for cell in written.cells:
        await one.append(owner, cell)
    read = await two.load(owner)
    assert [c.id for c in read.cells] == [c.id for c in written.cells]
    assert read.cells[0].events == written.cells[0].events  # the whole wire log
    assert (await two.load(stranger)).cells == ()
    # Bounded per browser as the file is: the oldest go past max_cells.
    more = make_notebook(3)
    for cell in more.cells:
        await two.append(owner, cell)
    assert [c.id for c in (await one.load(owner)).cells] == [c.id for c in more.cells]
    await two.update(owner, lambda nb: Notebook())
    assert (await one.load(owner)).cells == ()
    await one.aclose()
    await two.aclose()


async def test_two_replicas_changing_one_notebook_at_once_lose_neither_change(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    one = notebooks_of(replica(redis_server, tmp_path / "a"))
    two = notebooks_of(replica(redis_server, tmp_path / "b"))
    owner = new_owner_id()
    cells = make_notebook(24).cells
    # Each replica holds its own lock only: what keeps both changes is Redis's transaction.
    await asyncio.gather(
        *((one if i % 2 else two).append(owner, cell) for i, cell in enumerate(cells))
    )
    kept = await one.load(owner)
    assert sorted(c.id for c in kept.cells) == sorted(c.id for c in cells)
    await one.aclose()
    await two.aclose()


async def test_kept_versions_eval_runs_and_the_test_set_follow_the_browser(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    one = notebooks_of(replica(redis_server, tmp_path / "a"))
    two = notebooks_of(replica(redis_server, tmp_path / "b"))
    owner, stranger = new_owner_id(), new_owner_id()
    # Two tabs on two replicas keep a version of one prompt at once: distinct numbers.
    kept = await asyncio.gather(
        *(
            nbs.kept.akeep(owner, "support", f"title: v{i}\n", based_on="support@1", note=str(i))
            for i, nbs in enumerate((one, two, one, two))
        )
    )
    assert sorted(k.number for k in kept) == [1, 2, 3, 4]
    listed = await two.kept.aversions(owner)
    assert sorted(k.number for k in listed) == [1, 2, 3, 4]
    picked = await one.kept.aversion(owner, "support:3")
    assert picked.text == next(k.text for k in kept if k.number == 3)
    assert await one.kept.aversions(stranger) == []

    await one.history.aadd(owner, record("eval_a", 1.0, result(0, True)))
    await two.history.aadd(owner, record("eval_b", 2.0, result(0, False)))
    runs = await one.history.aruns(owner)
    assert [r.eval_id for r in runs] == ["eval_b", "eval_a"]  # newest first
    assert runs[1] == record("eval_a", 1.0, result(0, True))  # exactly as written
    await two.history.asave_set(owner, [["Capital of France?", "icontains: paris"]])
    assert await one.history.aload_set(owner) == [["Capital of France?", "icontains: paris"]]
    assert await one.history.aruns(stranger) == [] and await one.history.aload_set(stranger) is None
    await one.aclose()
    await two.aclose()


async def test_every_key_expires_and_names_no_owner_id(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    nbs = notebooks_of(replica(redis_server, tmp_path, playground_notebook_expire_days=2))
    owner = new_owner_id()
    await nbs.append(owner, make_notebook(1).cells[0])
    await nbs.kept.akeep(owner, "support", "title: x\n", based_on="support@1", note="")
    await nbs.history.aadd(owner, record("eval_a", 1.0, result(0, True)))
    await nbs.history.asave_set(owner, [["hi"]])
    await nbs.aclose()
    client = Redis.from_url(redis_server.url, decode_responses=True)
    keys = [str(k) for k in client.keys("sp:*")]
    assert len(keys) == 5, keys  # notebook, kept versions and numbers, eval runs, test set
    assert all(owner not in key for key in keys)
    assert all(0 < client.ttl(key) <= 2 * DAY for key in keys)


async def test_redis_out_of_reach_keeps_the_notebook_and_the_page_opens_empty(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    nbs = notebooks_of(replica(redis_server, tmp_path))
    owner = new_owner_id()
    await nbs.append(owner, make_notebook(1).cells[0])
    redis_server.stop()
    try:
        with pytest.raises(OSError, match="Redis"):
            await nbs.append(owner, make_notebook(1).cells[0])
        with pytest.raises(OSError, match="Redis"):
            await nbs.kept.aversions(owner)
        assert (await nbs.shown(owner)).cells == ()  # the page opens
    finally:
        redis_server.start()
    await nbs.aclose()
