"""The cache of rewritten graphs: what its key tells apart, and what a loaded function computes."""

from __future__ import annotations

import os
import subprocess
import sys

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


_KEYED_MODEL = """
import pymc as pm, numpy as np
from penguin_utils._compile_cache import graph_key
with pm.Model() as m:
    chol, _, _ = pm.LKJCholeskyCov("chol", n=2, eta=2.0, sd_dist=pm.HalfNormal.dist(shape=2))
    mu = pm.Normal("mu", shape=(3, 2))
    pm.MvNormal("x", mu=mu[1], chol=chol, observed=np.ones((5, 2)))
key = graph_key(m.value_vars, [m.logp()])[0]
"""


def test_the_key_is_the_same_in_every_process():
    # This process has imported much more than a fresh one (and so holds other references
    # to the constants in PyTensor's code), and the fresh ones hash strings differently.
    here: dict = {}
    exec(_KEYED_MODEL, here)
    keys = {here["key"]} | {
        subprocess.run(
            [sys.executable, "-c", _KEYED_MODEL + "print(key)"],
            env=dict(os.environ, PYTHONHASHSEED=seed),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(keys) == 1 and len(keys.pop()) == 64


def test_outputs_that_no_node_computes_are_keyed_by_their_data():
    x = pt.vector("x")
    assert _key([x], [x.sum(), pt.constant(1.0)]) != _key([x], [x.sum(), pt.constant(2.0)])


def test_shared_variables_with_updates_and_functions_from_a_notebook_are_not_keyed():
    x = pt.vector("x")
    counter = pytensor.shared(np.zeros(2), name="counter")
    counter.default_update = counter + 1  # compiled into the function
    assert graph_key([x], [x.sum() + counter.sum()]) is None
    from penguin_utils._compile_cache import _Unkeyable, _value_key

    notebook = {"__name__": "__main__"}
    exec("def f(x):\n    return x", notebook)
    with pytest.raises(_Unkeyable, match="not defined in a module file"):
        _value_key(notebook["f"])  # pickle would store its name only


def _compile(folder, value, compiled=None):
    """pymc.pytensorf.compile of sum(x * data) through the cache; ``compiled`` counts real compiles."""
    import pymc.pytensorf

    compile_ = pymc.pytensorf.compile

    def counting(*args, **kwargs):
        compiled.append(args)
        return compile_(*args, **kwargs)

    x = pt.vector("x")
    data = pytensor.shared(np.asarray(value), name="data")
    pymc.pytensorf.compile = counting if compiled is not None else compile_
    try:
        with cached_rewritten_graphs(folder):
            function = pymc.pytensorf.compile([x], (x * data).sum(), mode="NUMBA")
    finally:
        pymc.pytensorf.compile = compile_
    return function, data


def test_a_loaded_function_computes_on_the_callers_shared_variables(tmp_path):
    compiled = []
    first, _ = _compile(tmp_path, [1.0, 2.0], compiled)
    second, data = _compile(tmp_path, [5.0, 6.0, 7.0], compiled)
    assert len(compiled) == 1 and len(list(tmp_path.glob("*.pkl"))) == 1  # the second was loaded
    assert float(first([1.0, 1.0])) == 3.0
    assert float(second([1.0, 1.0, 1.0])) == 18.0
    # The caller's own variable, as compiling gives it: nutpie finds one variable per name,
    # and a new value reaches the function.
    assert second.get_shared() == [data]
    data.set_value(np.array([1.0, 1.0, 1.0]))
    assert float(second([1.0, 1.0, 1.0])) == 3.0


def test_an_unreadable_entry_is_compiled_again_and_replaced(tmp_path):
    _compile(tmp_path, [1.0, 2.0])
    (entry,) = tmp_path.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    with pytest.warns(UserWarning, match="unreadable compiled graph"):
        function, _ = _compile(tmp_path, [1.0, 2.0])
    assert float(function([1.0, 1.0])) == 3.0
    assert entry.read_bytes() != b"not a pickle"


def test_a_folder_that_cannot_be_written_costs_only_time(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.warns(UserWarning, match="could not store the compiled graph"):
        function, _ = _compile(not_a_folder, [1.0, 2.0])
    assert float(function([1.0, 1.0])) == 3.0


def test_stored_arrays_keep_the_strides_numbas_cache_key_reads():
    import io
    import pickle

    from pytensor.tensor.utils import hash_from_ndarray

    from penguin_utils._compile_cache import _StoringPickler

    odd = np.arange(3)[:, None]  # C-contiguous, with stride 0 along its axis of length 1
    assert odd.flags.c_contiguous and odd.strides == (8, 0)
    plain = pickle.loads(pickle.dumps(odd))
    assert hash_from_ndarray(plain) != hash_from_ndarray(odd)  # the miss this pickler prevents
    buffer = io.BytesIO()
    _StoringPickler(buffer, {}).dump({"odd": odd, "regular": np.ones((2, 3))})
    loaded = pickle.loads(buffer.getvalue())
    assert loaded["odd"].strides == (8, 0) and hash_from_ndarray(loaded["odd"]) == hash_from_ndarray(odd)
    np.testing.assert_array_equal(loaded["odd"], odd)
    assert loaded["regular"].strides == (24, 8)


def test_a_class_is_keyed_by_the_code_it_runs():
    def op_class(body):
        namespace = {}
        exec(f"class Edited:\n    def infer_shape(self, fgraph, node, shapes):\n        return {body}", namespace)
        return namespace["Edited"]

    assert _class_key(op_class("shapes")) == _class_key(op_class("shapes"))
    assert _class_key(op_class("shapes")) != _class_key(op_class("shapes[:1]"))


def test_a_class_key_does_not_follow_reference_counts():
    # marshal flags an object referred to more than once, so its bytes for PyTensor's code
    # differed between a process that held a nested function's code elsewhere and one that
    # did not (the precompile workers and the chapters), and the chapters missed the cache.
    from pytensor.tensor.subtensor import Subtensor

    before = _class_key.__wrapped__(Subtensor)
    held = [c for c in Subtensor.make_node.__code__.co_consts if hasattr(c, "co_code")]
    assert held and _class_key.__wrapped__(Subtensor) == before
