"""Let a later process load nutpie's compiled models from disk: the C wrappers around a
model's functions (Numba's cache), and the functions' rewritten graphs.

nutpie hands its Rust sampler a model as two Numba ``cfunc`` wrappers: one around the
PyTensor-compiled log density and gradient, one around the function that expands a draw
to every traced variable. nutpie writes them as closures over Numba dispatchers, which
Numba cannot cache (a closure's cache key pickles the dispatchers, and those carry a
random id per process), so every process compiled them again: 7 of chapter 3's 11 s with
warm caches, 3 s of it for the message of the shape-mismatch error in ``out[...] = grad``.

Here the same two wrappers are written as module-level source, with the functions they
call as globals, and registered with PyTensor's Numba cache locator under a key: a hash
of PyTensor's own cache key for the wrapped function (which covers its rewritten graph),
everything else the generated code depends on (dimensions, the shared data's types, the
wrapper source) and the library versions. The cache entry lives in PyTensor's
Numba cache folder (``base_compiledir/numba``). When anything in the key changes the key
changes, so a stale entry is never loaded; when PyTensor gives the wrapped function no
key (a graph it cannot cache), the model is compiled with nutpie's own wrappers.

PyTensor's rewriting of the graphs comes before any of this, and Numba's cache does not
spare it: :func:`cached_rewritten_graphs` stores the rewritten functions (see the comment
above it).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import tempfile
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import cloudpickle
import numpy as np

# The bodies are nutpie 0.16's `_make_c_logp_func` and `_make_c_expand_func` unchanged, so
# the returned codes and the values written are the same; only the free variables differ.
_LOGP_SRC = """
def penguin_logp_wrapper(dim, x_, out_, logp_, user_data_):
    if dim != n_dim:
        return -1

    try:
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_dim,))
        logp = numba.carray(logp_, ())

        logp_val, grad = extract(x, user_data_)
        logp[()] = logp_val
        out[...] = grad

        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

_EXPAND_SRC = """
def penguin_expand_wrapper(dim, expanded, x_, out_, user_data_):
    if dim != n_dim:
        return -1
    if expanded != n_expanded:
        return -1

    try:
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_expanded,))

        (values,) = extract(x, user_data_)
        out[...] = values

    except Exception:
        return -2
    return 0
"""

# Library names of the two wrappers (Numba names a library after the function's qualname).
WRAPPER_NAMES = ("penguin_logp_wrapper", "penguin_expand_wrapper")

_VERSIONED = ("nutpie", "numba", "llvmlite", "pytensor", "numpy")


def _cache_key(inner_key: str, src: str, env_names, sizes, user_data, shared_names, shared_data) -> str:
    """A hash of everything the wrapper's machine code depends on."""
    import pytensor

    hasher = hashlib.sha256()
    for part in (
        inner_key,
        src,
        env_names,
        sizes,
        user_data.dtype.descr,
        tuple(shared_names),
        tuple(version(name) for name in _VERSIONED),
        sys.version,
        pytensor.config.numba__fastmath,
    ):
        hasher.update(repr(part).encode())
    # nutpie's extraction function compiles the shared arrays in as constants, then replaces
    # every one of them, shape included, by the array passed at run time: only their types
    # (dtype, dimensions, memory layout) reach the machine code. Leaving the values and shapes
    # out lets a model on other data (a training split, a user's file) load these wrappers.
    for name in sorted(shared_data):
        value = np.asarray(shared_data[name])
        layout = (value.flags.c_contiguous, value.flags.f_contiguous)
        hasher.update(repr((name, value.dtype.str, value.ndim, layout)).encode())
    return hasher.hexdigest()


def _compile_wrapper(src: str, name: str, inner_key: str, sizes: dict[str, int], extract, user_data, names, data):
    """The wrapper ``name`` from ``src``, registered for caching under its key."""
    import numba
    from pytensor.link.numba.cache import compile_numba_function_src

    # A cached function's environment is rebuilt from the module named by `__name__`.
    env = {"__name__": __name__, "numba": numba, "np": np, "extract": extract, **sizes}
    key = _cache_key(inner_key, src, tuple(sorted(env)), tuple(sizes.items()), user_data, names, data)
    return compile_numba_function_src(src, name, global_env=env, cache_key=key)


def _pytensor_key(jit_fn) -> str | None:
    """PyTensor's Numba cache key for a compiled function, or None if it has none."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    return CACHED_SRC_FUNCTIONS.get(getattr(jit_fn, "py_func", None))


class Uncacheable(Exception):
    """PyTensor has no cache key for a function nutpie wraps; compile without this module."""


@contextmanager
def cached_nutpie_wrappers() -> Iterator[dict]:
    """While active, ``nutpie.compile_pymc_model`` builds wrappers Numba can cache.

    Yields the keyword arguments to pass to ``nutpie.compile_pymc_model`` (which hands them
    to ``numba.cfunc``): ``{"cache": True}`` if the wrappers were replaced, else ``{}``.
    Should nutpie's internals change, nothing is replaced and compiling is merely slower.

    Raises
    ------
    Uncacheable
        From inside ``compile_pymc_model`` when PyTensor gives a wrapped function no cache
        key: nutpie would then cache its own closures under a key that changes in every
        process, so the caller compiles again outside this context.
    """
    import nutpie.compile_pymc as ncp

    make_logp: Callable | None = getattr(ncp, "_make_c_logp_func", None)
    make_expand: Callable | None = getattr(ncp, "_make_c_expand_func", None)
    make_extraction = getattr(ncp, "make_extraction_fn", None)
    if make_logp is None or make_expand is None or make_extraction is None:
        yield {}
        return

    def logp_func(n_dim, logp_fn, user_data, shared_logp, shared_data):
        inner_key = _pytensor_key(logp_fn)
        if inner_key is None:
            raise Uncacheable(logp_fn)
        _, sig = make_logp(n_dim, logp_fn, user_data, shared_logp, shared_data)
        extract = make_extraction(logp_fn, shared_data, shared_logp, user_data.dtype)
        sizes = {"n_dim": n_dim}
        return _compile_wrapper(
            _LOGP_SRC, WRAPPER_NAMES[0], inner_key, sizes, extract, user_data, shared_logp, shared_data
        ), sig

    def expand_func(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data):
        inner_key = _pytensor_key(expand_fn)
        if inner_key is None:
            raise Uncacheable(expand_fn)
        _, sig = make_expand(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data)
        extract = make_extraction(expand_fn, shared_data, shared_vars, user_data.dtype)
        sizes = {"n_dim": n_dim, "n_expanded": n_expanded}
        return _compile_wrapper(
            _EXPAND_SRC, WRAPPER_NAMES[1], inner_key, sizes, extract, user_data, shared_vars, shared_data
        ), sig

    ncp._make_c_logp_func, ncp._make_c_expand_func = logp_func, expand_func
    try:
        yield {"cache": True}
    finally:
        ncp._make_c_logp_func, ncp._make_c_expand_func = make_logp, make_expand


# Rewritten graphs
# ----------------
# Numba's cache makes the machine code load in seconds, but before any of it is looked up,
# PyTensor rewrites the model's log density and gradient again in every process: 12 of the
# 20 s that chapter 3's model takes to compile with warm caches. The rewritten function is
# pickled here under a key of the graph *before* rewriting, and a later process with the
# same graph loads it instead (PyMC pickles compiled functions the same way to send them to
# its worker processes; unpickling does not rewrite them again).
#
# The key follows PyTensor's own Numba cache key of a graph (each node's Op by its type and
# props, its inputs by their place in the graph, constants by their data) and adds every
# variable's type, which the rewrites read, the code of each Op's and type's class as this
# process runs it, and the settings and versions that choose the rewrites. Shared variables
# (pm.Data) enter by name and type only: their values are data at run time, which no
# rewrite reads, and the stored function refers to them by name, so that the loaded one
# uses the caller's own variables. A graph with a prop that does not pickle, a function
# defined in a notebook among its props, unnamed or random shared variables, or options
# other than the mode is compiled as usual and not stored.

_GRAPH_VERSIONED = (*_VERSIONED, "pymc", "cloudpickle")


class _Unkeyable(Exception):
    """A graph that this cache cannot key safely."""


def graph_key(inputs, outputs, *, check_bounds: bool = True) -> tuple[str, dict] | None:
    """A key of the graph from ``inputs`` to ``outputs`` before rewriting, and its shared variables.

    Returns
    -------
    (str, dict) or None
        The key (hex sha256) and the shared variables by name; None for a graph this cache
        cannot key safely (see the comment above).
    """
    import pytensor

    if not isinstance(inputs, list | tuple):
        return None
    single = not isinstance(outputs, list | tuple)  # the function returns it unwrapped
    shared: dict = {}
    try:
        parts = _graph_parts(list(inputs), [outputs] if single else list(outputs), shared)
        config = pytensor.config
        settings = sorted((name, str(getattr(config, name))) for name in config._config_var_dict)
    except _Unkeyable:
        return None
    except Exception as error:  # PyTensor internals moved: compile as usual
        warnings.warn(f"compiling without the cache of rewritten graphs: {error!r}", stacklevel=3)
        return None
    hasher = hashlib.sha256()
    for part in (parts, single, check_bounds, settings, tuple(version(name) for name in _GRAPH_VERSIONED), sys.version):
        hasher.update(repr(part).encode())
    return hasher.hexdigest(), shared


def _graph_parts(inputs, outputs, shared: dict | None) -> list:
    """Each node's Op key with its inputs' places and its outputs' types, then the outputs' places.

    Adds the graph's shared variables to ``shared``; with ``shared=None`` (an Op's inner
    graph) a shared variable makes the graph unkeyable.
    """
    from pytensor.graph.basic import Variable
    from pytensor.graph.traversal import io_toposort

    if not all(isinstance(var, Variable) for var in (*inputs, *outputs)):
        raise _Unkeyable("In/Out wrappers carry options of their own")
    coords: dict = {var: ("input", i, var.name, _type_key(var.type)) for i, var in enumerate(inputs)}
    parts: list = []
    for n, node in enumerate(io_toposort(list(inputs), list(outputs))):
        for var in node.inputs:
            _add_root(var, coords, shared)
        coords |= {out: (n, j) for j, out in enumerate(node.outputs)}
        parts.append(
            (_op_key(node.op), [coords[var] for var in node.inputs], [_type_key(o.type) for o in node.outputs])
        )
    for var in outputs:  # an output can be a constant or a shared variable itself
        _add_root(var, coords, shared)
    return [*parts, [coords[var] for var in outputs], len(inputs)]


def _add_root(var, coords: dict, shared: dict | None) -> None:
    """Give ``var``, if no node computes it, its place in ``coords``: by data or by name."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant
    from pytensor.link.numba.dispatch.basic import cache_key_for_constant
    from pytensor.tensor.random.type import RandomType

    if var in coords:
        return
    if isinstance(var, SharedVariable):
        if shared is None or not var.name or var.name in shared or isinstance(var.type, RandomType):
            raise _Unkeyable(f"shared variable {var}")
        if getattr(var, "default_update", None) is not None:
            raise _Unkeyable(f"shared variable {var} with an update")  # compiled into the function
        if not isinstance(var.get_value(borrow=True), np.ndarray):
            raise _Unkeyable(f"shared variable {var} holding no array")  # stored by identity
        shared[var.name] = var
        coords[var] = ("shared", var.name, _type_key(var.type))
    elif isinstance(var, Constant):
        coords[var] = ("constant", _type_key(var.type), cache_key_for_constant(var.data))
    else:
        raise _Unkeyable(f"free variable {var}")  # pytensor.function would refuse it


def _op_key(op):
    """``op`` by its class and props (the props PyTensor compares Ops by), each prop by its
    pickle; an Op among the props by its own key, and an OpFromGraph by its inner graph.

    Pickling a graph gives other bytes in every process (its variables' automatic names),
    so graphs are keyed by their structure instead. An Op without props is keyed by its
    class and its pickled state.
    """
    from pytensor.compile.builders import OpFromGraph
    from pytensor.graph.op import Op

    name = _class_key(type(op))
    if isinstance(op, OpFromGraph):
        attributes = [
            (k, _value_key(v)) for k, v in sorted(vars(op).items()) if not k.startswith("_") and k != "fgraph"
        ]
        return name, attributes, _graph_parts(op.inner_inputs, op.inner_outputs, None)
    if not hasattr(op, "__props__"):
        return name, _value_key(op)
    return name, [(k, _op_key(v) if isinstance(v, Op) else _value_key(v)) for k, v in op._props_dict().items()]


@functools.cache
def _class_key(cls: type) -> str:
    """A class by its name and the code of its methods as this process runs them.

    An Op's make_node, infer_shape and gradient steer the rewrites, and an Op of this project
    (the fused mixture density) or of a notebook changes with no version number changing.
    """
    hasher = hashlib.sha256()
    for klass in cls.__mro__[:-1]:  # all but object
        for name, member in sorted(vars(klass).items()):
            function = getattr(member, "__func__", getattr(member, "fget", member))
            code = getattr(function, "__code__", None)
            if code is not None:
                hasher.update(f"{name}:{_code_text(code)}".encode())
    return f"{cls.__module__}.{cls.__qualname__}@{hasher.hexdigest()}"


def _code_text(code: types.CodeType) -> str:
    """A function's instructions, names and constants (nested functions' too) as text.

    Not ``marshal.dumps``: its bytes depend on reference counts (it marks objects referred
    to more than once), which differ between processes that imported other modules.
    """

    def constant(value) -> str:
        if isinstance(value, types.CodeType):
            return _code_text(value)
        if isinstance(value, tuple):
            return "(" + ",".join(map(constant, value)) + ")"
        if isinstance(value, frozenset):  # iterated in an order that depends on the hash seed
            return "frozenset(" + ",".join(sorted(map(constant, value))) + ")"
        return repr(value)

    parts = (code.co_code.hex(), [constant(c) for c in code.co_consts], code.co_names, code.co_varnames)
    return repr((*parts, code.co_freevars, code.co_cellvars))


def _type_key(type_) -> str:
    """A variable's type by its class and props (dtype and static shape for a tensor), else
    its class and pickled state."""
    state = tuple(type_._props_dict().items()) if hasattr(type_, "__props__") else type_
    return f"{_class_key(type(type_))}{_value_key(state)}"


class _KeyPickler(pickle.Pickler):
    """pickle, refusing functions and classes that a notebook defines: pickle names them
    only, so an edited one would keep its key."""

    def reducer_override(self, obj):
        if isinstance(obj, type | types.FunctionType):
            name = getattr(obj, "__module__", None) or ""
            module = sys.modules.get(name)
            built_in = name in sys.builtin_module_names
            if module is None or name == "__main__" or not (built_in or getattr(module, "__file__", None)):
                raise _Unkeyable(f"{obj!r} is not defined in a module file")
        return NotImplemented


def _value_key(value) -> str:
    hasher = hashlib.sha256()

    class HashFile:
        def write(self, b):
            hasher.update(b)

    try:
        _KeyPickler(HashFile(), protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    except _Unkeyable:
        raise
    except Exception as error:  # a value that does not pickle
        raise _Unkeyable(repr(value)) from error
    return hasher.hexdigest()


def _shared_parts(var) -> dict[str, object]:
    """What the pickle of a compiled function names of a shared variable: the variable, its
    container, the container's storage cell and the value in it (a compiled function reads
    the cell its container shares)."""
    container = var.container
    return {"variable": var, "container": container, "storage": container.storage, "data": container.data}


def _shared_ids(shared: dict) -> dict[int, tuple[str, str]]:
    """:func:`_shared_parts` of each shared variable, by id, as (part, variable name)."""
    return {id(obj): (part, name) for name, var in shared.items() for part, obj in _shared_parts(var).items()}


class _StoringPickler(cloudpickle.Pickler):
    """cloudpickle with two changes.

    The caller's shared variables, their containers and values are written as names
    (``persistent_id``), and :class:`_LoadingUnpickler` puts the loading caller's own in
    their place: the loaded function reads the model's data, as a compiled one would, and
    nutpie finds one variable per name in the functions it compiles.

    C-contiguous arrays keep their strides along axes of length 1. Those strides are
    arbitrary and a plain pickle makes them regular; PyTensor's Numba cache key of a
    constant includes them, so a loaded graph would miss the machine code compiled for the
    same graph before it was stored (chapter 10's model: a minute).
    """

    def __init__(self, file, shared: dict):
        super().__init__(file)
        self._ids = _shared_ids(shared)

    def persistent_id(self, obj):
        return self._ids.get(id(obj))

    def reducer_override(self, obj):
        if type(obj) is np.ndarray and obj.flags.c_contiguous and obj.strides != _c_strides(obj):
            return _with_strides, (np.array(obj, order="C", copy=True), obj.strides)
        return super().reducer_override(obj)


class _LoadingUnpickler(pickle.Unpickler):
    def __init__(self, file, shared: dict):
        super().__init__(file)
        self._shared = shared

    def persistent_load(self, pid):
        part, name = pid
        return _shared_parts(self._shared[name])[part]


def _c_strides(array: np.ndarray) -> tuple[int, ...]:
    return np.empty(array.shape, array.dtype).strides


def _with_strides(array: np.ndarray, strides: tuple[int, ...]) -> np.ndarray:
    return np.lib.stride_tricks.as_strided(array, strides=strides)


def _load_function(path, shared: dict):
    """The function stored at ``path``, on the caller's shared variables, or None."""
    from pytensor.compile.function.types import Function

    try:
        with open(path, "rb") as file:
            function = _LoadingUnpickler(file, shared).load()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except Exception as error:  # a partial or foreign file: compile again and replace it
        warnings.warn(f"ignoring the unreadable compiled graph {path}: {error!r}", stacklevel=3)
        return None
    # None where PyTensor's unpickle_function setting is off
    return function if isinstance(function, Function) else None


def _store_function(path, function, shared: dict) -> None:
    """Store ``function`` at ``path``; a failure costs only the next process's time."""
    partial = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".partial", delete=False) as file:
            partial = Path(file.name)
            _StoringPickler(file, shared).dump(function)
        os.replace(partial, path)  # whole or not at all, also with two processes at once
    except Exception as error:
        warnings.warn(f"could not store the compiled graph in {path.parent}: {error!r}", stacklevel=3)
        if partial is not None:
            partial.unlink(missing_ok=True)


@contextmanager
def cached_rewritten_graphs(folder=None) -> Iterator[None]:
    """While active, ``pymc.pytensorf.compile`` loads rewritten NUMBA-mode functions from disk.

    nutpie compiles a model's functions through ``pymc.pytensorf.compile``. A function in
    ``mode="NUMBA"`` whose graph has a key (:func:`graph_key`) is loaded from ``folder``
    (default: ``penguin_graphs`` in PyTensor's ``compiledir``) when it is there, and stored
    there after compiling when it is not; any other call goes through unchanged. Not for
    compiling in several threads at once (it replaces a module attribute while active).
    """
    import pymc.pytensorf as pytensorf
    import pytensor

    compile_ = pytensorf.compile
    folder = Path(pytensor.config.compiledir) / "penguin_graphs" if folder is None else Path(folder)

    def compile_cached(inputs, outputs, random_seed=None, mode=None, **kwargs):
        keyed = None
        if mode == "NUMBA" and random_seed is None and not kwargs and pytensor.config.unpickle_function:
            keyed = graph_key(inputs, outputs, check_bounds=_check_bounds())
        if keyed is None:
            return compile_(inputs, outputs, random_seed=random_seed, mode=mode, **kwargs)
        key, shared = keyed
        path = folder / f"{key}.pkl"
        function = _load_function(path, shared)
        if function is None:
            function = compile_(inputs, outputs, mode=mode)
            _store_function(path, function, shared)
        return function

    pytensorf.compile = compile_cached
    try:
        yield
    finally:
        pytensorf.compile = compile_


def _check_bounds() -> bool:
    """The model context's ``check_bounds``, which chooses one of PyMC's rewrites."""
    from pymc.model import modelcontext

    try:
        return modelcontext(None).check_bounds
    except TypeError:
        return True
