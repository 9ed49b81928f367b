"""A model file that would score nonsense (nan weights, a string of features, duplicate or
unknown feature names) is refused with InvalidData naming the file."""

from __future__ import annotations

import orjson
import pytest

from schemas.errors import InvalidData
from scorers.model import DEFAULT_MODEL_PATH, LinearModel


def _write(tmp_path, **fields):
    obj = {"version": "v1", "features": ["g_pop", "cooc"], "weights": [1.0, 2.0], "bias": 0.5}
    obj.update(fields)
    path = tmp_path / "model.json"
    path.write_bytes(orjson.dumps(obj))
    return path


def test_a_good_model_file_and_the_shipped_one_load(tmp_path):
    m = LinearModel.load(_write(tmp_path, weights=[1, -2.5]))
    assert m.weight_of("g_pop") == 1.0 and m.weight_of("cooc") == -2.5 and m.bias == 0.5
    shipped = LinearModel.load(DEFAULT_MODEL_PATH)
    assert len(shipped.features) == len(shipped.weights) > 0
    # a model feature the code no longer computes is still ignored, not refused
    m = LinearModel.load(_write(tmp_path, features=["g_pop", "gone"]))
    assert list(m.vector(["g_pop", "cooc"])) == [1.0, 0.0]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"weights": ["nan", 1]}, "finite numbers"),
        ({"weights": ["1.5", 1]}, "finite numbers"),
        ({"weights": [True, 1]}, "finite numbers"),
        ({"weights": 1.0}, "finite numbers"),
        ({"features": "cooc", "weights": [1.0, 2.0, 3.0, 4.0]}, "list of feature names"),
        ({"features": ["cooc", 3]}, "list of feature names"),
        ({"features": ["g_pop", "g_pop"], "weights": [1.0, -1.0]}, "more than once: g_pop"),
        ({"features": ["nope", "gone"]}, "none of the features"),
        ({"features": [], "weights": []}, "none of the features"),
        ({"weights": [1.0]}, "2 features but 1 weights"),
        ({"bias": "nan"}, "bias"),
        ({"version": 3}, "version"),
    ],
)
def test_bad_model_files_are_refused_naming_the_file(tmp_path, fields, says):
    path = _write(tmp_path, **fields)
    with pytest.raises(InvalidData, match=says) as err:
        LinearModel.load(path)
    assert str(path) in str(err.value)


def test_not_a_model_object(tmp_path):
    path = tmp_path / "model.json"
    for raw in (b"[1, 2]", b'{"features": ["cooc"]}'):
        path.write_bytes(raw)
        with pytest.raises(InvalidData, match="not a linear model file"):
            LinearModel.load(path)


def test_from_dict_refuses_an_int_weight_beyond_float_range():
    obj = {"version": "v", "features": ["cooc"], "weights": [10**400]}
    with pytest.raises(InvalidData, match=r"where\.json: weights must be"):
        LinearModel.from_dict(obj, "where.json")
