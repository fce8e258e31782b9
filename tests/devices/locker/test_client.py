"""``LockerBoard`` against the simulated board over a real pty pair: doors open once, faults are
survived, a silent board is a timeout, many callers share the bus, the cable comes and goes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices.errors import DeviceTimeout, DeviceUnavailable
from devices.locker.client import LockerBoard
from devices.locker.protocol import Polarity, Sensors
from devices.locker.simulator import LockerBoardSimulator
from devices.simkit import Faults

SimFactory = Callable[..., LockerBoardSimulator]
BoardFactory = Callable[..., LockerBoard]


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    sims: list[LockerBoardSimulator] = []

    def make(**kwargs: Any) -> LockerBoardSimulator:
        sim = LockerBoardSimulator(**kwargs)
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.close()


@pytest.fixture
def make_board() -> Iterator[BoardFactory]:
    boards: list[LockerBoard] = []

    def make(url: str, **kwargs: Any) -> LockerBoard:
        kwargs.setdefault("timeout_s", 0.2)
        board = LockerBoard(url, **kwargs)
        boards.append(board)
        return board

    yield make
    for board in boards:
        board.close()


def test_status_of_a_fresh_board(make_sim: SimFactory, make_board: BoardFactory) -> None:
    sim = make_sim()
    sim.put_item(2)
    status = make_board(sim.path).status()
    assert status.board == 0
    assert status.locks_open == set()
    assert status.doors_open == set()
    assert status.items_present == {2}


def test_open_a_lock_and_its_door_shows_open_until_pushed_shut(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim()
    board = make_board(sim.path)
    result = board.open_lock(4)
    assert (result.opened, result.confirmed_by, result.unlock_commands) == (True, "reply", 1)
    assert result.status.doors_open == {4}
    assert sim.unlock_count(4) == 1
    assert board.status().doors_open == {4}
    sim.close_door(4)
    assert board.status().doors_open == set()
    assert board.stats.frames == 3
    assert board.stats.rejected == 0


@pytest.mark.parametrize(
    "polarity", [Polarity(), Polarity(lock_open_bit=1, sensor_active_bit=0)], ids=str
)
@pytest.mark.parametrize("sensors", list(Sensors))
def test_polarity_and_wiring_end_to_end(
    make_sim: SimFactory, make_board: BoardFactory, polarity: Polarity, sensors: Sensors
) -> None:
    sim = make_sim(polarity=polarity, sensors=sensors)
    sim.put_item(9)
    board = make_board(sim.path, polarity=polarity, sensors=sensors)
    assert board.open_lock(3).opened
    status = board.status()
    assert status.locks_open == {3}
    assert status.doors_open == {3}
    assert status.items_present == ({9} if sensors is Sensors.ITEM else None)


def test_a_board_with_the_other_polarity_misreads(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    # Why the setting exists: the same bytes mean the opposite under the wrong polarity.
    sim = make_sim(polarity=Polarity(lock_open_bit=1))
    status = make_board(sim.path, polarity=Polarity(lock_open_bit=0)).status()
    assert len(status.locks_open) == 16


@pytest.mark.parametrize(
    "faults",
    [
        Faults(split=1.0, seed=1),
        Faults(duplicate=1.0, seed=2),
        Faults(stray=1.0, seed=3),
        Faults(reply_delay_s=0.05, seed=4),
        Faults(split=0.5, duplicate=0.5, stray=0.5, seed=5),
    ],
    ids=["split", "duplicate", "stray", "slow", "mixed"],
)
def test_faulty_replies_are_survived(
    make_sim: SimFactory, make_board: BoardFactory, faults: Faults
) -> None:
    sim = make_sim(faults=faults)
    board = make_board(sim.path, retries=4)
    for lock in (1, 2, 3):
        assert board.open_lock(lock).opened
    sim.close_door(2)
    for _ in range(3):
        assert board.status().locks_open == {1, 3}
    assert [sim.unlock_count(lock) for lock in (1, 2, 3)] == [1, 1, 1]
    assert sim.total_unlocks == 3


def test_stray_bytes_are_counted_as_rejections(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim(faults=Faults(stray=1.0, seed=3))
    board = make_board(sim.path)
    for _ in range(5):
        board.status()
    assert board.stats.rejected >= 5
    assert board.stats.frames == 5


def test_duplicate_replies_are_flushed_not_mistaken_for_the_next_answer(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim(faults=Faults(duplicate=1.0, seed=2))
    board = make_board(sim.path)
    assert board.status().locks_open == set()
    assert board.open_lock(6).opened
    # The duplicate of the first (all latched) reply must not answer this status.
    assert board.status().locks_open == {6}
    # Each duplicate was seen and set aside, glued to its reply or as stale bytes.
    assert board.counters.unexpected_frames + board.counters.stale_bytes > 0


def test_corrupted_replies_are_retried(make_sim: SimFactory, make_board: BoardFactory) -> None:
    sim = make_sim(faults=Faults(corrupt=0.5, seed=11))
    board = make_board(sim.path, retries=8)
    for lock in range(4):
        assert board.open_lock(lock).opened
    for _ in range(5):
        assert board.status().locks_open == {0, 1, 2, 3}
    assert all(sim.unlock_count(lock) == 1 for lock in range(4))
    assert board.stats.rejected > 0
    assert board.counters.retries > 0


def test_a_board_that_only_sends_garbage_times_out(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim(faults=Faults(corrupt=1.0, seed=12))
    board = make_board(sim.path, retries=2)
    with pytest.raises(DeviceTimeout, match="no status after 3 attempts"):
        board.status()
    assert sim.requests_seen == 3


def test_a_board_that_opens_but_does_not_reply_opens_exactly_once(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim()
    sim.answers_unlock = False
    board = make_board(sim.path)
    result = board.open_lock(7)
    assert result.opened
    assert result.confirmed_by == "status"
    assert result.unlock_commands == 1
    assert sim.unlock_count(7) == 1  # no second pulse
    assert board.counters.unlocks_confirmed_by_status == 1


def test_dropped_replies_never_open_a_door_twice(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    # drop_reply loses replies to unlocks (performed) and to status queries alike.
    sim = make_sim(faults=Faults(drop_reply=0.4, seed=21))
    board = make_board(sim.path, retries=6)
    for lock in range(8):
        assert board.open_lock(lock).opened
    assert [sim.unlock_count(lock) for lock in range(8)] == [1] * 8
    assert board.counters.unlocks_confirmed_by_status > 0


def test_a_late_unlock_reply_is_not_a_reason_to_pulse_again(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim(faults=Faults(reply_delay_s=0.3, seed=22))
    board = make_board(sim.path, timeout_s=0.2, retries=3)
    result = board.open_lock(5)
    assert result.opened
    assert sim.unlock_count(5) == 1


def test_a_dead_board_times_out_after_one_unlock(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim()
    sim.responsive = False
    board = make_board(sim.path, retries=2)
    with pytest.raises(DeviceTimeout, match="does not answer"):
        board.open_lock(1)
    assert sim.unlock_count(1) == 0
    # One unlock, then status queries: the client never guesses a second pulse.
    assert board.counters.unlocks_sent == 1
    assert board.counters.commands == 1 + 3
    with pytest.raises(DeviceTimeout):
        board.status()


def test_a_jammed_lock_is_pulsed_again_only_while_status_shows_it_latched(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim()
    sim.jam(2)
    board = make_board(sim.path, retries=2)
    result = board.open_lock(2)
    assert not result.opened
    assert result.unlock_commands == 3
    assert sim.unlock_count(2) == 3
    assert not sim.is_open(2)


def test_another_boards_address_gets_no_answer(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim(board=0)
    with pytest.raises(DeviceTimeout):
        make_board(sim.path, board=1, retries=0).status()
    assert sim.requests_seen == 0


def test_board_address_in_the_high_nibble(make_sim: SimFactory, make_board: BoardFactory) -> None:
    sim = make_sim(board=5)
    board = make_board(sim.path, board=5)
    assert board.open_lock(15).status.board == 5
    assert sim.unlock_count(15) == 1


def test_concurrent_callers_never_interleave_frames(
    make_sim: SimFactory, make_board: BoardFactory
) -> None:
    sim = make_sim(faults=Faults(split=0.3, seed=31))
    board = make_board(sim.path, timeout_s=1.0)
    results: dict[int, bool] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def customer(locks: list[int]) -> None:
        try:
            start.wait()
            for lock in locks:
                results[lock] = board.open_lock(lock).opened
                board.status()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=customer, args=([i, i + 8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert results == dict.fromkeys(range(16), True)
    assert [sim.unlock_count(lock) for lock in range(16)] == [1] * 16
    assert sim.rejected == []  # every request reached the board whole
    assert sim.requests_seen == board.counters.commands >= 32
    assert board.status().locks_open == set(range(16))


def test_unplug_and_replug(make_sim: SimFactory, make_board: BoardFactory) -> None:
    sim = make_sim()
    board = make_board(sim.path)
    assert board.open_lock(0).opened
    sim.unplug()
    with pytest.raises(DeviceUnavailable):
        board.status()
    with pytest.raises(DeviceUnavailable):
        board.open_lock(1)
    sim.replug()
    assert board.status().locks_open == {0}  # the board kept its state
    assert board.open_lock(1).opened
    assert sim.unlock_count(1) == 1


def test_close_stops_the_worker_and_refuses_new_commands(make_sim: SimFactory) -> None:
    sim = make_sim()
    board = LockerBoard(sim.path, timeout_s=0.2)
    board.status()
    board.close()
    board.close()  # idempotent
    assert not any(t.name == "locker-board-0" for t in threading.enumerate())
    with pytest.raises(DeviceUnavailable, match="closed"):
        board.status()


def test_lock_out_of_range_is_a_value_error(make_sim: SimFactory, make_board: BoardFactory) -> None:
    board = make_board(make_sim().path)
    with pytest.raises(ValueError, match="lock must be"):
        board.open_lock(16)


def test_a_missing_port_is_unavailable(make_board: BoardFactory) -> None:
    board = make_board("/nonexistent/ttyLOCKER")
    with pytest.raises(DeviceUnavailable, match="cannot open"):
        board.status()


def test_simulator_cli_prints_a_path_the_client_can_use(make_board: BoardFactory) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devices.locker.simulator", "--board", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        board = make_board(path, board=2)
        assert board.open_lock(4).opened
        assert board.status().locks_open == {4}
        board.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
