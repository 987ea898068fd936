"""The cache of rewritten graphs: what its key tells apart, and what a loaded function computes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from penguin_utils._compile_cache import _class_key, cached_rewritten_graphs, graph_key


def _key(inputs, outputs):
    keyed = graph_key(inputs, outputs)
    assert keyed is not None
    return keyed[0]


def _density(n=3, constant=(1.0, 2.0, 3.0)):
    x = pt.vector("x", shape=(n,))
    return [x], [((x - np.array(constant)) ** 2).sum()]


def test_the_same_graph_built_twice_has_one_key():
    assert _key(*_density()) == _key(*_density())


@pytest.mark.parametrize(
    "other",
    [
        _density(constant=(1.0, 2.0, 3.5)),  # a constant's value
        _density(n=None),  # an input's static shape
    ],
    ids=["constant", "static shape"],
)
def test_what_the_rewrites_read_changes_the_key(other):
    assert _key(*_density()) != _key(*other)


def test_ops_inside_ops_are_keyed_by_their_structure():
    # pt.diag builds a Blockwise around an OpFromGraph (AllocDiag): pickled, their graphs
    # give other bytes in every process; keyed by structure, the offset still tells apart.
    x = pt.matrix("x", shape=(2, 3))

    def diag(offset):
        return _key([x], [pt.linalg.cholesky(pt.diag(x[0], k=offset)[:3, :3] + pt.eye(3))])

    assert diag(0) == diag(0) != diag(1)


def test_shared_values_stay_out_of_the_key_but_names_and_types_do_not():
    x = pt.vector("x")

    def key(value, name="data"):
        data = pytensor.shared(np.asarray(value), name=name)
        return graph_key([x], [(x * data).sum()])

    (first, shared), (second, _) = key([1.0, 2.0]), key([5.0, 6.0, 7.0])
    assert first == second and list(shared) == ["data"]
    assert key([1.0, 2.0], name="other")[0] != first
    assert key(np.array([1, 2]))[0] != first  # int64 data: another type
    assert key([1.0, 2.0], name=None) is None  # unnamed: nothing to match it by after loading


def test_random_graphs_are_not_keyed():
    rng = pytensor.shared(np.random.default_rng(0), name="rng")
    x = pt.vector("x")
    assert graph_key([x], [x + pt.random.normal(rng=rng, size=x.shape)]) is None


_KEY_IN_A_NEW_PROCESS = """
import pymc as pm, numpy as np
from penguin_utils._compile_cache import graph_key
with pm.Model() as m:
    chol, _, _ = pm.LKJCholeskyCov("chol", n=2, eta=2.0, sd_dist=pm.HalfNormal.dist(shape=2))
    pm.MvNormal("x", mu=np.zeros(2), chol=chol, observed=np.ones((5, 2)))
value = m.value_vars[0]
print(graph_key([value], [m.logp()])[0])
"""


def test_the_key_is_the_same_in_every_process():
    keys = {
        subprocess.run(
            [sys.executable, "-c", _KEY_IN_A_NEW_PROCESS],
            env=dict(os.environ, PYTHONHASHSEED=seed),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(keys) == 1 and len(keys.pop()) == 64


def _compile(tmp_path, value):
    import pymc.pytensorf

    x = pt.vector("x")
    data = pytensor.shared(np.asarray(value), name="data")
    with cached_rewritten_graphs(tmp_path):
        function = pymc.pytensorf.compile([x], (x * data).sum(), mode="NUMBA")
    return function


def test_a_loaded_function_computes_with_the_callers_shared_values(tmp_path):
    import pymc.pytensorf

    compile_ = pymc.pytensorf.compile
    first = _compile(tmp_path, [1.0, 2.0])
    assert pymc.pytensorf.compile is compile_  # restored
    assert len(list(tmp_path.glob("*.pkl"))) == 1
    stored = next(tmp_path.glob("*.pkl")).stat().st_mtime_ns
    second = _compile(tmp_path, [5.0, 6.0, 7.0])  # loaded, not compiled again
    assert next(tmp_path.glob("*.pkl")).stat().st_mtime_ns == stored
    assert second is not first
    assert float(first([1.0, 1.0])) == 3.0
    assert float(second([1.0, 1.0, 1.0])) == 18.0


def test_an_unreadable_entry_is_compiled_again_and_replaced(tmp_path):
    _compile(tmp_path, [1.0, 2.0])
    (entry,) = tmp_path.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    with pytest.warns(UserWarning, match="unreadable compiled graph"):
        function = _compile(tmp_path, [1.0, 2.0])
    assert float(function([1.0, 1.0])) == 3.0
    assert entry.read_bytes() != b"not a pickle"


def test_stored_arrays_keep_the_strides_numbas_cache_key_reads():
    import io
    import pickle

    from pytensor.tensor.utils import hash_from_ndarray

    from penguin_utils._compile_cache import _StridePreservingPickler

    odd = np.arange(3)[:, None]  # C-contiguous, with stride 0 along its axis of length 1
    assert odd.flags.c_contiguous and odd.strides == (8, 0)
    plain = pickle.loads(pickle.dumps(odd))
    assert hash_from_ndarray(plain) != hash_from_ndarray(odd)  # the miss this pickler prevents
    buffer = io.BytesIO()
    _StridePreservingPickler(buffer).dump({"odd": odd, "regular": np.ones((2, 3))})
    loaded = pickle.loads(buffer.getvalue())
    assert loaded["odd"].strides == (8, 0) and hash_from_ndarray(loaded["odd"]) == hash_from_ndarray(odd)
    np.testing.assert_array_equal(loaded["odd"], odd)
    assert loaded["regular"].strides == (24, 8)


def test_an_op_is_keyed_with_the_source_of_its_module():
    import penguin_utils.mixture_logp as module

    name, source = _class_key(module.MvNormalMixtureLogp).split("@")
    assert name == "penguin_utils.mixture_logp.MvNormalMixtureLogp"
    assert source == hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()
