"""Let Numba cache nutpie's C wrappers around a model's compiled functions on disk.

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
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version

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
