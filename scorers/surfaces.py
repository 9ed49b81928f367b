"""The recommendation surfaces, declared in one place, and which of them an event rescores.

A *surface* is one answer the worker keeps per shopper (``default``, ``buy_again``, ``basket``,
``search``, ...), declared in ``scorers/surfaces.toml`` (or the file of
``STREAM_APP_SURFACES_PATH``): the context it depends on, its candidate sources, its model (a
key of :data:`scorers.surface_models.MODELS`), K, whether it is refreshed in batch only or
rescored on events, and the triggers that rescore it. :func:`load_surfaces` reads and checks
the file; :func:`triggers` and :func:`dispatch` are the pure decision of which surfaces a
shopper's events touch, so an event rescores only the surfaces whose inputs it changed.

>>> surfaces = load_surfaces()
>>> [s.name for s in surfaces]
['default', 'buy_again', 'basket', 'search']
>>> dispatch({"search"}, surfaces)
('default', 'search')
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.state import History, UserState
from schemas.errors import ConfigError
from schemas.events import Event
from schemas.recommendation import DEFAULT_SURFACE, Recommendation

if TYPE_CHECKING:
    from scorers.artifacts import Artifacts
    from scorers.surface_models import SurfaceModel

__all__ = [
    "BATCH_TRIGGERS",
    "CONTEXTS",
    "CONTEXT_TRIGGERS",
    "DEFAULT_SURFACE",
    "EVENT_TRIGGERS",
    "MAX_K",
    "REFRESH",
    "TRIGGERS",
    "Surface",
    "batch_answers",
    "by_name",
    "changed",
    "dispatch",
    "dump_surfaces",
    "load_surfaces",
    "parse_surfaces",
    "rank_views",
    "ranked_at",
    "triggers",
    "view",
]

CONTEXTS = frozenset({"history", "basket", "searches", "time"})
TRIGGERS = frozenset({"build", "cart_add", "search", "checkout", "session", "fade"})
"""``build``: seeded by ``stream-app build`` (and by a rebuild for shoppers without state);
``cart_add``, ``search``, ``checkout``: an event of that type; ``session``: an event began a
new session (the open basket was dropped); ``fade``: the fading-search timer."""
BATCH_TRIGGERS = frozenset({"build", "checkout"})
"""What may rescore a ``refresh = "batch"`` surface."""
REFRESH = ("batch", "events")
MAX_K = 50
"""Largest K a surface may ask for (a top-10 with reasons is ~850 bytes of JSON)."""
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FIELDS = {"name", "description", "context", "sources", "model", "k", "refresh", "rescore_on"}
_REQUIRED = ("name", "context", "model", "refresh", "rescore_on")
BUILTIN = "surfaces.toml"


@dataclass(frozen=True, slots=True)
class Surface:
    """One declared surface (see ``scorers/surfaces.toml`` for the meaning of each field)."""

    name: str
    model: str
    context: frozenset[str]
    rescore_on: frozenset[str]
    refresh: str = "events"
    k: int | None = None
    """Answer length; None: the worker's ``STREAM_APP_K``."""
    sources: tuple[str, ...] = ()
    description: str = ""

    @property
    def batch(self) -> bool:
        """Refreshed in batch only: ranked at the shopper's last checkout, not on session events."""
        return self.refresh == "batch"


def load_surfaces(
    path: Path | None = None, models: Collection[str] | None = None
) -> tuple[Surface, ...]:
    """The surfaces of ``path`` (None: the shipped ``scorers/surfaces.toml``), checked against
    ``models`` (default: the keys of :data:`scorers.surface_models.MODELS`);
    :class:`ConfigError` naming the file and the surface when something is wrong."""
    if models is None:
        from scorers.surface_models import MODELS

        models = MODELS.keys()
    if path is None:
        source = f"scorers/{BUILTIN}"
        text = resources.files("scorers").joinpath(BUILTIN).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"surfaces file {source}: cannot be read ({exc})") from exc
    return parse_surfaces(text, source, models)


def parse_surfaces(text: str, source: str, models: Collection[str]) -> tuple[Surface, ...]:
    """The surfaces of a TOML text (``[[surface]]`` tables), ``default`` first.

    >>> parse_surfaces('[[surface]]\\nname = "default"\\ncontext = []\\nmodel = "m"\\n'
    ...                'refresh = "events"\\nrescore_on = ["cart_add"]', "t.toml", ["m"])[0].k
    >>> parse_surfaces('[[surface]]\\nname = "x"', "t.toml", ["m"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.ConfigError: surfaces file t.toml: surface 'x': missing context, model, ...
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"surfaces file {source}: not valid TOML ({exc})") from exc
    extra = set(doc) - {"surface"}
    if extra:
        raise ConfigError(f"surfaces file {source}: unknown top-level keys {sorted(extra)}")
    tables = doc.get("surface")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"surfaces file {source}: no [[surface]] tables")
    surfaces: list[Surface] = []
    for i, table in enumerate(tables):
        surface = _surface(table, f"surfaces file {source}", i + 1, models)
        if any(s.name == surface.name for s in surfaces):
            raise ConfigError(f"surfaces file {source}: duplicate surface name {surface.name!r}")
        surfaces.append(surface)
    if not any(s.name == DEFAULT_SURFACE for s in surfaces):
        raise ConfigError(
            f"surfaces file {source}: no surface named {DEFAULT_SURFACE!r} "
            "(the answer at reco:{user_id} that every existing reader gets)"
        )
    surfaces.sort(key=lambda s: s.name != DEFAULT_SURFACE)  # stable: the rest in file order
    return tuple(surfaces)


def _surface(table: Any, source: str, index: int, models: Collection[str]) -> Surface:
    """The ``index``-th ``[[surface]]`` table of ``source``, checked."""
    name = table.get("name") if isinstance(table, dict) else None
    where = f"{source}: surface " + (repr(name) if isinstance(name, str) else f"#{index}")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: not a table")
    missing = [f for f in _REQUIRED if f not in table]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    unknown = set(table) - _FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown fields {sorted(unknown)} (known: {sorted(_FIELDS)})")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: name must be lower-case letters, digits and '_' (a Redis key segment), "
            f"starting with a letter, got {name!r}"
        )
    context = _words(table, "context", CONTEXTS, where)
    rescore_on = _words(table, "rescore_on", TRIGGERS, where)
    model = table["model"]
    if not isinstance(model, str) or model not in models:
        raise ConfigError(f"{where}: unknown model {model!r} (known: {sorted(models)})")
    refresh = table["refresh"]
    if refresh not in REFRESH:
        raise ConfigError(f"{where}: refresh must be one of {list(REFRESH)}, got {refresh!r}")
    if not rescore_on:
        raise ConfigError(f"{where}: rescore_on is empty (nothing would ever write it)")
    if refresh == "batch" and not rescore_on <= BATCH_TRIGGERS:
        raise ConfigError(
            f"{where}: a batch surface is rescored only on {sorted(BATCH_TRIGGERS)}, "
            f'not {sorted(rescore_on - BATCH_TRIGGERS)} (or make it refresh = "events")'
        )
    if refresh == "events" and rescore_on <= BATCH_TRIGGERS:
        raise ConfigError(f'{where}: rescored only on {sorted(rescore_on)}: refresh = "batch"')
    missing_triggers = sorted({t for c in context for t in CONTEXT_TRIGGERS[c]} - rescore_on)
    if missing_triggers and not rescore_on >= EVENT_TRIGGERS:  # else rescored on every event
        raise ConfigError(
            f"{where}: its context {sorted(context)} is changed by {missing_triggers} too: "
            "add them to rescore_on (else its answer depends on how events were batched)"
        )
    k = table.get("k")
    if k is not None and (type(k) is not int or not 1 <= k <= MAX_K):
        raise ConfigError(f"{where}: k must be an integer from 1 to {MAX_K}, got {k!r}")
    sources = table.get("sources", [])
    description = table.get("description", "")
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"{where}: sources must be a list of strings")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string")
    return Surface(name, model, context, rescore_on, refresh, k, tuple(sources), description)


def _words(table: Mapping[str, Any], field: str, known: frozenset[str], where: str) -> frozenset:
    """A list-of-words field, each one of ``known``."""
    value = table[field]
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise ConfigError(f"{where}: {field} must be a list of strings, got {value!r}")
    bad = sorted(set(value) - known)
    if bad:
        raise ConfigError(f"{where}: unknown {field} {bad} (known: {sorted(known)})")
    return frozenset(value)


def by_name(surfaces: Iterable[Surface]) -> dict[str, Surface]:
    """The surfaces keyed by name.

    >>> sorted(by_name(load_surfaces()))
    ['basket', 'buy_again', 'default', 'search']
    """
    return {s.name: s for s in surfaces}


def triggers(events: Sequence[Event], state: UserState) -> frozenset[str]:
    """What a shopper's ``events`` of one batch changed: their types, plus ``session`` when one
    of them began a new session (``state``, the state after them, started its session no
    earlier than the oldest of them: a checkout, a first event, or an event after the session
    gap, which drops the open basket). A late event may add ``session`` needlessly (one
    rescore too many), never miss it.

    >>> from schemas.events import CartAdd, Search
    >>> s = UserState(7, last_ts=50, session_start_ts=10)
    >>> sorted(triggers([Search("e", 7, "milk", 50)], s))
    ['search']
    >>> sorted(triggers([CartAdd("e", 7, 3, 10), Search("f", 7, "milk", 50)], s))
    ['cart_add', 'search', 'session']
    >>> triggers([], s)
    frozenset()
    """
    if not events:
        return frozenset()
    kinds = {e.type for e in events}
    if state.session_start_ts >= min(e.ts for e in events):
        kinds.add("session")
    return frozenset(kinds)


def dispatch(kinds: Collection[str], surfaces: Iterable[Surface]) -> tuple[str, ...]:
    """The names of the surfaces any of ``kinds`` rescores, in declaration order.

    >>> surfaces = load_surfaces()
    >>> dispatch({"search"}, surfaces), dispatch({"cart_add"}, surfaces)
    (('default', 'search'), ('default', 'basket'))
    >>> dispatch({"checkout", "session"}, surfaces), dispatch({"fade"}, surfaces)
    (('default', 'buy_again', 'basket', 'search'), ('default', 'search'))
    """
    return tuple(s.name for s in surfaces if not s.rescore_on.isdisjoint(kinds))


CONTEXT_TRIGGERS: dict[str, frozenset[str]] = {
    "history": frozenset({"checkout"}),
    "basket": frozenset({"cart_add", "checkout", "session"}),
    "searches": frozenset({"search"}),
    "time": frozenset(),
}
"""What changes each context (:func:`features.apply`): a surface reading a context is rescored
on all of it, or on every event, else its answer would depend on how events were batched."""
EVENT_TRIGGERS = frozenset({"cart_add", "search", "checkout"})
"""Every event's type: a surface rescored on all of them sees every change of the state."""
_WHOLE = frozenset({"history", "basket", "searches"})


def view(
    surface: Surface, state: UserState, fade_ms: int | None = None
) -> tuple[UserState, int | None]:
    """What ``surface`` ranks of ``state``, and when: ``(state_view, rank_at_ms)``.

    The view holds only the surface's declared context, so the events that do not rescore
    the surface never change it, and it is stamped (``last_ts``, hence the answer's
    ``event_ts``) with the time of the last event that changed it: a surface's answer is a
    function of the shopper's events, not of how they were batched.

    * every context (``default``): the whole state, at ``last_ts`` (every event rescores it);
    * ``history``: the purchase history (orders, counts, recent baskets), changed by checkouts,
      at the last checkout;
    * ``basket``: the open basket, changed by cart adds, checkouts and new sessions, at the
      latest of them (``last_add_ts``, ``session_start_ts``);
    * ``searches``: the searches, changed only by searches, at the newest one's time.

    ``rank_at_ms`` is ``fade_ms`` (the fading-search timer's time) for a surface rescored on
    ``fade``, else the view's own time (None only for the whole state: its ``last_ts``).

    >>> surfaces = by_name(load_surfaces())
    >>> s = UserState(7, last_ts=900, order_ts=(100, 500), basket=(3,), last_add_ts=800,
    ...               session_start_ts=500, searches=(("milk", 850),), recent_ids=("e",))
    >>> v, at = view(surfaces["buy_again"], s)
    >>> at, v.last_ts, v.basket, v.searches, v.order_ts
    (500, 500, (), (), (100, 500))
    >>> v, at = view(surfaces["basket"], s)
    >>> at, v.basket, v.searches, v.recent_ids
    (800, (3,), (), ())
    >>> v, at = view(surfaces["search"], s, fade_ms=990)
    >>> at, v.last_ts, v.basket, v.searches
    (990, 850, (), (('milk', 850),))
    >>> view(surfaces["default"], s) == (s, None)
    True
    """
    context = surface.context
    fading = fade_ms if "fade" in surface.rescore_on else None
    if context >= _WHOLE:
        return state, fading
    times = [0]
    history = "history" in context
    basket = "basket" in context
    searches = state.searches if "searches" in context else ()
    if history and state.order_ts:
        times.append(state.order_ts[-1])
    if basket:
        times += (state.last_add_ts, state.session_start_ts)
    if searches:
        times.append(max(ts for _, ts in searches))
    at = max(times)
    out = UserState(
        state.user_id,
        last_ts=at,
        n_orders=state.n_orders if history else 0,
        total_items=state.total_items if history else 0,
        order_ts=state.order_ts if history else (),
        basket=state.basket if basket else (),
        session_start_ts=state.session_start_ts if basket else 0,
        last_add_ts=state.last_add_ts if basket else 0,
        searches=searches,
        history=state.history if history else History(),
        recent_ids=(),
        recent_orders=state.recent_orders if history else (),
    )
    return out, at if fading is None else fading


def changed(before: UserState, after: UserState, surfaces: Iterable[Surface]) -> tuple[str, ...]:
    """The names of the surfaces whose :func:`view` differs between ``before`` and ``after``
    (a shopper's state before and after a batch). What :func:`triggers` cannot see: a late
    event re-folded before earlier ones changes what they did (the cart adds a checkout
    commits, a session gap it closes), so a view may change in a batch without its triggers.

    >>> surfaces = load_surfaces()
    >>> a = UserState(7, last_ts=10, basket=(3,), last_add_ts=10, order_ts=(5,))
    >>> changed(a, UserState(7, last_ts=20, basket=(3,), last_add_ts=10, order_ts=(5,),
    ...                      searches=(("milk", 20),)), surfaces)
    ('default', 'search')
    >>> changed(a, a, surfaces)
    ()
    """
    return tuple(s.name for s in surfaces if view(s, before)[0] != view(s, after)[0])


def ranked_at(surface: Surface, state: UserState, now_ms: int | None = None) -> int | None:
    """When ``surface`` ranks ``state`` (:func:`view`; None: at its event time): a batch
    surface at the last checkout, so its answer does not depend on when the batch ran; one
    rescored by the fading timer at ``now_ms`` when given.

    >>> s = UserState(7, last_ts=900, order_ts=(100, 500))
    >>> surfaces = by_name(load_surfaces())
    >>> ranked_at(surfaces["buy_again"], s, 950), ranked_at(surfaces["search"], s, 950)
    (500, 950)
    """
    return view(surface, state, now_ms)[1]


def rank_views(
    surface: Surface,
    states: Sequence[UserState],
    art: Artifacts,
    k: int,
    models: Mapping[str, SurfaceModel],
    fade_ms: Sequence[int | None] | None = None,
) -> list[Recommendation]:
    """``surface``'s answers of ``states``: its model over each state's :func:`view` (at
    ``fade_ms[i]`` for a surface the fading timer rescores, when given), ``surface`` set.
    The one call the worker, ``build``, the rebuild, the offline twin and the eval make.

    A batch surface's answer whose view is the user's batch seed's is what ``stream-app
    build`` seeded, and says so (``source="batch"``), whoever ranks it."""
    fades = fade_ms if fade_ms is not None else [None] * len(states)
    views = [view(surface, s, f) for s, f in zip(states, fades, strict=True)]
    model = models[surface.model]
    answers = model([v for v, _ in views], art, surface.k or k, [t for _, t in views])
    out = [replace(a, surface=surface.name) for a in answers]
    if surface.batch and art is not None:
        for i, (v, _) in enumerate(views):
            seed = art.seed_state(v.user_id)
            if seed is not None and view(surface, seed)[0] == v:
                out[i] = replace(out[i], source="batch")
    return out


def batch_answers(
    art: Artifacts,
    user_ids: Sequence[int],
    surfaces: Iterable[Surface],
    k: int,
    models: Mapping[str, SurfaceModel],
) -> list[Recommendation]:
    """What ``stream-app build`` seeds for ``user_ids``: every surface rescored on ``build``
    ranked from each known user's seed state (unknown users are skipped), ``source="batch"``;
    a batch surface at the user's last checkout, as the worker ranks it.

    >>> batch_answers(None, [], load_surfaces(), 10, {})
    []
    """
    seeds = [s for s in (art.seed_state(u) for u in user_ids) if s is not None]
    out: list[Recommendation] = []
    for surface in surfaces:
        if "build" not in surface.rescore_on or not seeds:
            continue
        answers = rank_views(surface, seeds, art, k, models)
        out.extend(replace(a, source="batch") for a in answers)
    return out


def dump_surfaces(surfaces: Iterable[Surface]) -> str:
    """TOML text that :func:`parse_surfaces` reads back as ``surfaces`` (e.g. a declaration
    with the default surface only, for a worker measured as it was before surfaces).

    >>> everything = load_surfaces()
    >>> parse_surfaces(dump_surfaces(everything), "dumped", ["blended", "buy_again", "basket",
    ...                                                      "search"]) == everything
    True
    """

    def text(value: object) -> str:  # JSON strings, ints and arrays are TOML too
        return json.dumps(value, ensure_ascii=False)

    out = []
    for s in surfaces:
        fields = {
            "name": s.name,
            "description": s.description,
            "context": sorted(s.context),
            "sources": list(s.sources),
            "model": s.model,
            "k": s.k,
            "refresh": s.refresh,
            "rescore_on": sorted(s.rescore_on),
        }
        out.append("[[surface]]")
        out.extend(f"{key} = {text(value)}" for key, value in fields.items() if value is not None)
        out.append("")
    return "\n".join(out)
