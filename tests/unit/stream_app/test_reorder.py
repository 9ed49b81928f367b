"""The reorder buffer makes the worker's state independent of cross-topic arrival order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from features import DEFAULT_CONFIG, empty_state, fold, reorder
from schemas.events import CartAdd, Checkout, Search, encode
from stream_app.worker.frontier import Frontier

T0 = 1_500_000_000_000


def _events(n_orders: int) -> list:
    out = []
    ts = T0
    for o in range(n_orders):
        for pos in range(3):
            ts += 30_000
            out.append(Search(f"o{o}-s{pos}", 1, f"query {pos}", ts - 5_000))
            out.append(CartAdd(f"o{o}-a{pos}", 1, 10 * o + pos + 1, ts))
        ts += 60_000
        out.append(Checkout(f"o{o}-c", 1, ts))
        ts += 3 * 86_400_000
    return reorder.sort_for_apply(out)


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4))
def test_any_arrival_order_within_the_hold_gives_the_offline_state(rnd, n_orders) -> None:
    events = _events(n_orders)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    buf = reorder.start(empty_state(1))
    for i, event in enumerate(shuffled):
        buf = reorder.add(buf, event, DEFAULT_CONFIG, now_ms=i)  # all within the hold
    assert buf.current == fold(empty_state(1), events)
    assert reorder.from_bytes(buf.to_bytes(), empty_state) == buf


def test_events_settle_into_base_once_read_past_and_duplicates_are_no_ops() -> None:
    events = _events(2)
    buf = reorder.start(empty_state(1))
    for i, event in enumerate(events):  # appended 20 s apart, every partition read up to it
        at = i * 20_000
        buf = reorder.add(buf, event, DEFAULT_CONFIG, now_ms=at, frontier=at, hold_ms=10_000)
    assert len(buf.pending) == 1  # only the newest is still held
    assert fold(buf.base, buf.pending) == buf.current == fold(empty_state(1), events)
    again = reorder.add(buf, events[-1], DEFAULT_CONFIG, now_ms=10**9)
    assert again == buf


def test_nothing_settles_while_the_frontier_is_unknown_or_behind() -> None:
    events = _events(2)
    buf = reorder.start(empty_state(1))
    for i, event in enumerate(events):
        buf = reorder.add(buf, event, DEFAULT_CONFIG, now_ms=i, hold_ms=0)
    assert len(buf.pending) == len(events)  # no frontier: however much wall time passes
    behind = reorder.add_many(buf, [], DEFAULT_CONFIG, 0, frontier=3, hold_ms=0)
    assert len(behind.pending) == len(events) - 3  # appended at 0, 1, 2: read past
    assert behind.current == buf.current == fold(empty_state(1), events)


def test_pending_is_capped() -> None:
    buf = reorder.start(empty_state(1))
    for i, event in enumerate(_events(4)):
        buf = reorder.add(buf, event, DEFAULT_CONFIG, now_ms=i, frontier=0, max_pending=5)
    assert len(buf.pending) == 5


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4), st.integers(1, 7))
def test_batches_of_any_arrival_order_give_the_offline_state(rnd, n_orders, chunk) -> None:
    events = _events(n_orders)
    shuffled = list(events)
    rnd.shuffle(shuffled)
    shuffled += shuffled[: rnd.randint(0, 3)]  # some redelivered
    buf = reorder.start(empty_state(1))
    for i in range(0, len(shuffled), chunk):
        buf = reorder.add_many(buf, shuffled[i : i + chunk], DEFAULT_CONFIG, now_ms=i)
    assert buf.current == fold(empty_state(1), events)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 90))
def test_replaying_events_the_state_already_holds_gives_the_offline_state(chunk) -> None:
    # The seeded state already holds these events, but its duplicate filter only remembers the
    # latest max_recent_ids of them: the offline fold re-applies the older ones (and then the
    # newer ones, pushed out of the ring meanwhile). However the worker's batches fall, it must
    # reach exactly the same state as the offline replay of the same log.
    events = _events(12)  # 84 events, more than the 64 ids the ring keeps
    seeded = fold(empty_state(1), events)
    buf = reorder.start(seeded)
    for i in range(0, len(events), chunk):
        buf = reorder.add_many(buf, events[i : i + chunk], DEFAULT_CONFIG, now_ms=i)
    assert buf.current == fold(seeded, events)


def _at(events: list, first_offset: int) -> list[tuple[str, int, int]]:
    """Kafka positions of ``events`` published in this order to one partition per topic."""
    next_offset: dict[str, int] = {}
    out = []
    for e in events:
        offset = next_offset.get(e.type, first_offset)
        next_offset[e.type] = offset + 1
        out.append((f"{e.type}s", 3, offset))
    return out


def _consume(buf, events, where, now_ms=0, highwater=None):
    """What the worker does with one user's messages of a batch."""
    buf, kept = reorder.drop_redelivered(buf, events, where, highwater)
    return reorder.add_many(buf, kept, DEFAULT_CONFIG, now_ms)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 90), st.integers(1, 90))
def test_a_redelivered_window_of_any_length_is_a_no_op(chunk, redelivered_chunk) -> None:
    # after a crash, Kafka redelivers everything since the last offset commit, while the
    # changelog already holds its effect: longer than apply's 64-id window here
    events = _events(12)  # 84 events
    where = _at(events, 0)
    buf = reorder.start(empty_state(1))
    for i in range(0, len(events), chunk):
        buf = _consume(buf, events[i : i + chunk], where[i : i + chunk], i)
    assert buf.current == fold(empty_state(1), events) and buf.current.n_orders == 12
    again = buf
    for i in range(0, len(events), redelivered_chunk):
        part = slice(i, i + redelivered_chunk)
        again = _consume(again, events[part], where[part], 10**6 + i, lambda t, p: 10**4)
    assert again.current == buf.current and again.positions == buf.positions


def test_a_republished_log_is_folded_like_the_offline_replay() -> None:
    # the same events published again are new messages (new offsets), not redeliveries
    events = _events(12)
    seeded = fold(empty_state(1), events)
    buf = _consume(reorder.start(seeded), events, _at(events, 500))
    assert buf.current == fold(seeded, events)


def test_recreated_topics_do_not_swallow_new_events() -> None:
    # offsets start again at 0, below what the state remembers
    old = _events(2)
    buf = _consume(reorder.start(empty_state(1)), old, _at(old, 100))
    # a newer order: kept by the time guard alone
    new = _events(4)[-7:]
    assert _consume(buf, new, _at(new, 0)).current == fold(fold(empty_state(1), old), new)
    # a late search and a cart add at the user's latest time: the high-water mark (3: the
    # recreated partition has 3 messages) shows the stored offsets are from another topic
    late = Search("late", 1, "late query", old[-1].ts - 60_000)
    same = CartAdd("same", 1, 77, old[-1].ts)
    where = [("searchs", 3, 0), ("cart_adds", 3, 0)]
    after = _consume(buf, [late, same], where, 1, lambda t, p: 3)
    assert after.current == fold(empty_state(1), reorder.sort_for_apply([*old, late, same]))
    assert ("searchs", 3, 0) in after.positions  # the new topic's offsets from now on
    # without the high-water mark the late search would pass for a redelivery (documented);
    # the cart add at the latest time is still kept (left to apply's id window)
    blind = _consume(buf, [late, same], where, 1)
    assert blind.current == fold(empty_state(1), reorder.sort_for_apply([*old, same]))


def test_late_events_of_one_batch_are_kept_whatever_their_offsets() -> None:
    # two late searches (older than the state's last event) arrive in one batch; the one
    # published later sorts first: a new message must never be taken for a redelivery
    first = _events(1)
    buf = _consume(reorder.start(empty_state(1)), first, _at(first, 0))  # searches at 0-2
    older = Search("late-1", 1, "older", first[0].ts - 2_000)
    newer = Search("late-2", 1, "newer", first[0].ts - 1_000)
    batch = [older, newer]  # apply order; ``older`` was published after ``newer``
    buf = _consume(buf, batch, [("searchs", 3, 4), ("searchs", 3, 3)], 1)
    assert buf.current == fold(empty_state(1), reorder.sort_for_apply([*first, *batch]))
    assert ("searchs", 3, 4) in buf.positions


def test_values_of_the_previous_format_are_still_read() -> None:
    import struct

    buf = reorder.add_many(reorder.start(empty_state(1)), _events(1), DEFAULT_CONFIG, 0)
    parts = [buf.base.to_bytes(), buf.current.to_bytes()]
    parts += [
        struct.pack(">Q", t) + encode(e) for t, e in zip(buf.arrived, buf.pending, strict=True)
    ]
    v1 = b"R1" + struct.pack(">I", len(parts))
    v1 += b"".join(struct.pack(">I", len(p)) + p for p in parts)
    assert reorder.from_bytes(v1) == buf


@settings(max_examples=150, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4), st.booleans(), st.integers(0, 3))
def test_any_read_order_of_the_three_partitions_gives_the_offline_state(
    rnd, n_orders, searches, restart_every
) -> None:
    """However far one topic's partition runs ahead of another's (a backlog, a stall, a
    restart), events settle only once every partition has been read past them."""
    events = [e for e in _events(n_orders) if searches or e.type != "search"]
    topics = ["cart_add", "search", "checkout"]
    # published in event-time order: the append time of an event is its index
    queues = {t: [(i, e) for i, e in enumerate(events) if e.type == t] for t in topics}
    highwater = {t: len(q) for t, q in queues.items()}
    frontier = Frontier(topics)
    buf = reorder.start(empty_state(1))
    read = dict.fromkeys(topics, 0)
    batches = 0
    while any(read[t] < highwater[t] for t in topics):
        batch = []
        for _ in range(rnd.randint(1, 6)):  # a batch: records of whichever partitions
            open_topics = [t for t in topics if read[t] < highwater[t]]
            if not open_topics:
                break
            topic = rnd.choice(open_topics)
            appended, event = queues[topic][read[topic]]
            frontier.processed(topic, 0, read[topic], appended)
            read[topic] += 1
            batch.append((appended, event))
        for topic in topics:  # a fetch of every partition after the backlog was published
            frontier.fetched(topic, 0, len(events), highwater[topic], read[topic])
        buf = reorder.add_many(
            buf,
            [e for _, e in batch],
            DEFAULT_CONFIG,
            max(a for a, _ in batch),
            frontier=frontier.settle_before(0),
            hold_ms=0,
        )
        batches += 1
        if restart_every and batches % restart_every == 0:  # kill -9: state from the changelog
            buf = reorder.from_bytes(buf.to_bytes(), empty_state)
            frontier.clear()
    assert buf.current == fold(empty_state(1), events)
    assert fold(buf.base, buf.pending) == buf.current
