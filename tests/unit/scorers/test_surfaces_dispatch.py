"""Which surfaces a shopper's events rescore: the pure decision the worker makes per batch."""

from __future__ import annotations

from features.state import UserState
from schemas.events import CartAdd, Checkout, Search
from scorers.surfaces import dispatch, load_surfaces, triggers

SURFACES = load_surfaces()
T = 1_500_000_000_000
MID_SESSION = UserState(7, last_ts=T + 60_000, session_start_ts=T - 600_000, basket=(5,))


def test_a_search_does_not_rescore_buy_again() -> None:
    kinds = triggers([Search("s", 7, "yogurt", T)], MID_SESSION)
    assert dispatch(kinds, SURFACES) == ("default", "search")


def test_a_cart_add_does_not_rescore_buy_again() -> None:
    kinds = triggers([CartAdd("a", 7, 5, T)], MID_SESSION)
    assert dispatch(kinds, SURFACES) == ("default", "basket")


def test_a_checkout_rescores_buy_again_the_emptied_basket_and_search_on_the_new_history() -> None:
    after = UserState(7, last_ts=T, session_start_ts=T, n_orders=1)  # checkout starts a session
    kinds = triggers([CartAdd("a", 7, 5, T - 30_000), Checkout("c", 7, T)], after)
    assert dispatch(kinds, SURFACES) == ("default", "buy_again", "basket", "search")


def test_the_fading_timer_rescores_search_and_default_only() -> None:
    assert dispatch({"fade"}, SURFACES) == ("default", "search")


def test_build_seeds_default_and_buy_again() -> None:
    assert dispatch({"build"}, SURFACES) == ("default", "buy_again")


def test_a_search_that_begins_a_new_session_rescores_the_basket_it_dropped() -> None:
    later = T + 2 * 3_600_000  # past the session gap: the open basket is dropped
    after = UserState(7, last_ts=later, session_start_ts=later)
    kinds = triggers([Search("s", 7, "milk", later)], after)
    assert kinds == {"search", "session"}
    assert dispatch(kinds, SURFACES) == ("default", "basket", "search")


def test_no_events_rescore_nothing() -> None:
    assert dispatch(triggers([], MID_SESSION), SURFACES) == ()
