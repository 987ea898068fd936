"""The Gaussian-mixture log-likelihood as one fused PyTensor operation.

``pm.Mixture`` over ``MvNormal`` components builds a graph of dozens of small
operations (triangular solves, broadcasts, logsumexp) and the same again for the
gradient; on a 342 × 4 data set their overhead, not the arithmetic, sets the cost of one
NUTS step.  :class:`MvNormalMixtureLogp` computes the per-penguin log-likelihood in a
single loop nest and keeps what it passed through (responsibilities, whitened residuals),
so that :class:`MvNormalMixtureLogpGrad`, its exact gradient, is a few weighted sums and
one small triangular solve per cluster.  Both have a NumPy ``perform`` (for
PyTensor's default backend and for testing) and a Numba implementation, used by PyTensor's
NUMBA mode and by nutpie.

Per penguin ``i`` and cluster ``k``, with ``z = L_k^{-1}(x_i - mu_k)``::

    q_ik   = log w_k - sum_j log L_k[j, j] - D/2 log(2 pi) - |z|^2 / 2
    logp_i = logsumexp_k q_ik

and, with responsibilities ``r_ik = exp(q_ik - logp_i)`` and ``a = L_k^{-T} z``::

    d logp_i / d w_k  = r_ik / w_k
    d logp_i / d mu_k = r_ik a
    d logp_i / d L_k  = r_ik (tril(a z^T) - diag(1 / L_k[j, j]))
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_undefined
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

__all__ = ["MvNormalMixtureLogp", "MvNormalMixtureLogpGrad", "mvnormal_mixture_logp"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# PyTensor's on-disk Numba cache keys an Op by its class and props only; salting the key
# with this file's hash makes an edited kernel recompile instead of reusing a stale one.
_CACHE_SALT = int(hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12], 16)
# Reordering and fused multiply-add only: infinities and NaN keep their IEEE meaning.
_FASTMATH = {"reassoc", "contract", "arcp"}


@numba.njit(cache=True, fastmath=_FASTMATH)
def _cluster_constants(w, chol):
    """Per-cluster ``log w_k - sum_j log L_k[j, j] - D/2 log(2 pi)`` and ``1 / L_k[j, j]``.

    Computed once per call so that the loop over penguins needs no logarithm or division.
    """
    n_cluster, n_feature = chol.shape[0], chol.shape[1]
    const = np.empty(n_cluster)
    inv_diag = np.empty((n_cluster, n_feature))
    for k in range(n_cluster):
        const[k] = math.log(w[k]) - n_feature * _HALF_LOG_2PI
        for j in range(n_feature):
            const[k] -= math.log(chol[k, j, j])
            inv_diag[k, j] = 1.0 / chol[k, j, j]
    return const, inv_diag


@numba.njit(cache=True, fastmath=_FASTMATH)
def _mixture_logp(X, w, mu, chol):
    """Per-row log-density (N,), responsibilities (N, K) and whitened residuals (N, K, D)."""
    n_penguin = X.shape[0]
    n_cluster, n_feature = mu.shape
    const, inv_diag = _cluster_constants(w, chol)
    logp = np.empty(n_penguin)
    resp = np.empty((n_penguin, n_cluster))
    white = np.empty((n_penguin, n_cluster, n_feature))
    for i in range(n_penguin):
        top = -np.inf
        for k in range(n_cluster):
            sq = 0.0
            for j in range(n_feature):  # forward substitution: L_k z = x_i - mu_k
                s = X[i, j] - mu[k, j]
                for m in range(j):
                    s -= chol[k, j, m] * white[i, k, m]
                s *= inv_diag[k, j]
                white[i, k, j] = s
                sq += s * s
            resp[i, k] = const[k] - 0.5 * sq
            top = max(top, resp[i, k])
        total = 0.0
        for k in range(n_cluster):
            resp[i, k] = math.exp(resp[i, k] - top)
            total += resp[i, k]
        inv_total = 1.0 / total
        for k in range(n_cluster):
            resp[i, k] *= inv_total
        logp[i] = top + math.log(total)
    return logp, resp, white


@numba.njit(cache=True, fastmath=_FASTMATH)
def _mixture_logp_grad(w, chol, resp, white, g):
    """Gradient of ``sum_i g_i logp_i`` with respect to ``w``, ``mu`` and ``chol``."""
    n_penguin, n_cluster, n_feature = white.shape
    _, inv_diag = _cluster_constants(w, chol)
    # Responsibility-weighted sums of 1, z and z z^T per cluster; the L^{-T} solves
    # then happen once per cluster instead of once per penguin.
    r_sum = np.zeros(n_cluster)
    rz = np.zeros((n_cluster, n_feature))
    rzz = np.zeros((n_cluster, n_feature, n_feature))
    for i in range(n_penguin):
        for k in range(n_cluster):
            r = g[i] * resp[i, k]
            r_sum[k] += r
            for j in range(n_feature):
                rz_j = r * white[i, k, j]
                rz[k, j] += rz_j
                for m in range(j + 1):
                    rzz[k, j, m] += rz_j * white[i, k, m]
    d_w = r_sum / w
    d_mu = np.zeros((n_cluster, n_feature))
    d_chol = np.zeros((n_cluster, n_feature, n_feature))
    for k in range(n_cluster):
        for m in range(n_feature):  # fill the upper triangle of the symmetric rzz
            for j in range(m):
                rzz[k, j, m] = rzz[k, m, j]
        # Back substitution L^T A = B for the vector rz and the matrix rzz at once.
        for j in range(n_feature - 1, -1, -1):
            s = rz[k, j]
            for m in range(j + 1, n_feature):
                s -= chol[k, m, j] * d_mu[k, m]
            d_mu[k, j] = s * inv_diag[k, j]
            for c in range(n_feature):
                s = rzz[k, j, c]
                for m in range(j + 1, n_feature):
                    s -= chol[k, m, j] * d_chol[k, m, c]
                d_chol[k, j, c] = s * inv_diag[k, j]
        for j in range(n_feature):
            d_chol[k, j, j] -= r_sum[k] * inv_diag[k, j]
            for c in range(j + 1, n_feature):
                d_chol[k, j, c] = 0.0
    return d_w, d_mu, d_chol


def _as_inputs(X, w, mu, chol):
    return [pt.as_tensor_variable(v, dtype="float64") for v in (X, w, mu, chol)]


class MvNormalMixtureLogp(Op):
    """Per-row log-density of a mixture of multivariate normals.

    Inputs ``X`` (N, D), ``w`` (K,), ``mu`` (K, D), ``chol`` (K, D, D) lower Cholesky
    factors (entries above the diagonal are ignored). Outputs the log-density (N,) and,
    for the gradient, the responsibilities (N, K) and whitened residuals (N, K, D), so
    that the backward pass need not repeat the triangular solves and exponentials.
    """

    __props__ = ()

    def make_node(self, X, w, mu, chol):
        inputs = _as_inputs(X, w, mu, chol)
        for var, ndim, name in zip(inputs, (2, 1, 2, 3), ("X", "w", "mu", "chol")):
            if var.ndim != ndim:
                raise TypeError(f"{name} must have {ndim} dimensions, got {var.ndim}.")
        outputs = [pt.vector(dtype="float64"), pt.matrix(dtype="float64"), pt.tensor3(dtype="float64")]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, outputs):
        results = _mixture_logp(*(np.ascontiguousarray(v, dtype=float) for v in inputs))
        for out, value in zip(outputs, results):
            out[0] = value

    def infer_shape(self, fgraph, node, shapes):
        (n, d), (k,) = shapes[0], shapes[1]
        return [(n,), (n, k), (n, k, d)]

    def L_op(self, inputs, outputs, output_grads):
        if not all(isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            raise NotImplementedError("Only the log-density output of MvNormalMixtureLogp is differentiable.")
        X, w, mu, chol = inputs
        _, resp, white = outputs  # reuse the forward pass rather than building it again
        d_w, d_mu, d_chol = MvNormalMixtureLogpGrad()(w, chol, resp, white, output_grads[0])
        return [grad_undefined(self, 0, X, "X is data; it has no gradient."), d_w, d_mu, d_chol]

    def connection_pattern(self, node):
        return [[True, False, False], [True, False, False], [True, False, False], [True, False, False]]


class MvNormalMixtureLogpGrad(Op):
    """Vector-Jacobian product of :class:`MvNormalMixtureLogp`.

    Inputs ``w`` (K,), ``chol`` (K, D, D), the responsibilities (N, K) and whitened
    residuals (N, K, D) from the forward pass, and ``g`` (N,), the gradient of a scalar
    with respect to the per-row log-densities. Outputs the gradient with respect to
    ``w`` (K,), ``mu`` (K, D) and ``chol`` (K, D, D) (lower triangle; zeros above).
    """

    __props__ = ()

    def make_node(self, w, chol, resp, white, g):
        inputs = [pt.as_tensor_variable(v, dtype="float64") for v in (w, chol, resp, white, g)]
        w, chol = inputs[0], inputs[1]
        return Apply(self, inputs, [w.type(), pt.matrix(dtype="float64"), chol.type()])

    def perform(self, node, inputs, outputs):
        grads = _mixture_logp_grad(*(np.ascontiguousarray(v, dtype=float) for v in inputs))
        for out, value in zip(outputs, grads):
            out[0] = value

    def infer_shape(self, fgraph, node, shapes):
        (k,), chol_shape, _, white_shape, _ = shapes
        return [(k,), (k, white_shape[2]), chol_shape]


@register_funcify_default_op_cache_key(MvNormalMixtureLogp)
def _numba_mixture_logp(op, node=None, **kwargs):
    @numba.njit
    def mixture_logp(X, w, mu, chol):
        return _mixture_logp(
            np.ascontiguousarray(X), np.ascontiguousarray(w), np.ascontiguousarray(mu), np.ascontiguousarray(chol)
        )

    return mixture_logp, _CACHE_SALT


@register_funcify_default_op_cache_key(MvNormalMixtureLogpGrad)
def _numba_mixture_logp_grad(op, node=None, **kwargs):
    @numba.njit
    def mixture_logp_grad(w, chol, resp, white, g):
        return _mixture_logp_grad(
            np.ascontiguousarray(w),
            np.ascontiguousarray(chol),
            np.ascontiguousarray(resp),
            np.ascontiguousarray(white),
            np.ascontiguousarray(g),
        )

    return mixture_logp_grad, _CACHE_SALT


def mvnormal_mixture_logp(X, w, mu, chol) -> pt.TensorVariable:
    """Symbolic per-row log-density (N,) of the mixture; see :class:`MvNormalMixtureLogp`."""
    return MvNormalMixtureLogp()(X, w, mu, chol)[0]
