"""The JSON Schema export agrees with what schemas.events.decode enforces."""

from __future__ import annotations

import orjson
import pytest

from schemas.errors import InvalidEvent
from schemas.events import CartAdd, Checkout, Search, from_dict, to_dict
from schemas.jsonschema import all_schemas, event_schema
from stream_app.cli import main

EXAMPLES = {
    "cart_add": to_dict(CartAdd("e1", 7, 196, 1_500_000_000_000, order_id=3)),
    "search": to_dict(Search("e2", 7, "yogurt", 1_500_000_000_000, synthetic=True)),
    "checkout": to_dict(Checkout("e3", 7, 1_500_000_000_000, order_id=3)),
}


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_required_fields_are_exactly_the_ones_decode_requires(kind: str) -> None:
    schema = event_schema(kind)
    example = EXAMPLES[kind]
    assert set(example) <= set(schema["properties"])
    for name in schema["properties"]:
        if name not in example:
            continue
        partial = {k: v for k, v in example.items() if k != name}
        if name in schema["required"]:
            with pytest.raises(InvalidEvent):
                from_dict(partial)
        else:
            from_dict(partial)


def test_timestamp_bounds_match_decode() -> None:
    ts = event_schema("checkout")["properties"]["ts"]
    ok = dict(EXAMPLES["checkout"], ts=ts["minimum"])
    from_dict(ok)
    with pytest.raises(InvalidEvent, match="absurd_timestamp"):
        from_dict(dict(ok, ts=ts["minimum"] - 1))
    with pytest.raises(InvalidEvent, match="absurd_timestamp"):
        from_dict(dict(ok, ts=ts["exclusiveMaximum"]))


@pytest.mark.parametrize("kind", ["cart_add", "search", "checkout"])
def test_user_id_bounds_match_decode(kind: str) -> None:
    user_id = event_schema(kind)["properties"]["user_id"]
    from_dict(dict(EXAMPLES[kind], user_id=user_id["maximum"]))
    with pytest.raises(InvalidEvent, match="bad_value"):
        from_dict(dict(EXAMPLES[kind], user_id=user_id["maximum"] + 1))


def test_export_command_writes_every_schema_as_json(tmp_path, capsys) -> None:
    assert main(["schemas", "export", "--out", str(tmp_path / "out")]) == 0
    written = {p.name: orjson.loads(p.read_bytes()) for p in (tmp_path / "out").iterdir()}
    assert written == all_schemas()
    assert written["event.schema.json"]["oneOf"][0] == {"$ref": "cart_add.schema.json"}
