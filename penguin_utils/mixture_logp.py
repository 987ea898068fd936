"""The Gaussian-mixture log-likelihood as one fused PyTensor operation.

``pm.Mixture`` over ``MvNormal`` components builds a graph of dozens of small
operations (triangular solves, broadcasts, logsumexp) and the same again for the
gradient; on a 342 × 4 data set their overhead, not the arithmetic, sets the cost of one
NUTS step.  :class:`MvNormalMixtureLogp` computes the per-penguin log-likelihood in a
single loop nest and keeps what it passed through (responsibilities, whitened residuals),
so that :class:`MvNormalMixtureLogpGrad`, its exact gradient, is a few weighted sums and
one small triangular solve per cluster.  Both have a NumPy ``perform`` (for
PyTensor's default backend and for testing) and a Numba implementation, used by PyTensor's
NUMBA mode and by nutpie.  The loops themselves live in :mod:`penguin_utils._kernels`,
which :mod:`penguin_utils.assign` shares, so sampling and assignment use one density.

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
from pathlib import Path

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_undefined
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from penguin_utils import _kernels
from penguin_utils._kernels import fused_logp, fused_logp_grad

__all__ = ["MvNormalMixtureLogp", "MvNormalMixtureLogpGrad", "mvnormal_mixture_logp"]

# PyTensor's on-disk Numba cache keys an Op by its class and props only; salting the key
# with the kernels' source makes an edited kernel recompile instead of reusing a stale one.
_CACHE_SALT = int(
    hashlib.sha256(b"".join(Path(f).read_bytes() for f in (__file__, _kernels.__file__))).hexdigest()[:12], 16
)


def _as_inputs(X, w, mu, chol):
    return [pt.as_tensor_variable(v, dtype="float64") for v in (X, w, mu, chol)]


class MvNormalMixtureLogp(Op):
    """Per-row log-density of a mixture of multivariate normals.

    Inputs ``X`` (N, D), ``w`` (K,), ``mu`` (K, D), ``chol`` (K, D, D) lower Cholesky
    factors; only their lower triangle is read (the models build ``chol`` lower
    triangular, and a posterior with entries above the diagonal is refused by
    :func:`penguin_utils.posterior.mixture_draws`). Outputs the log-density (N,) and,
    for the gradient, the responsibilities (K, N) and whitened residuals (K, D, N), so
    that the backward pass need not repeat the triangular solves and exponentials.
    """

    __props__ = ()

    def make_node(self, X, w, mu, chol):
        inputs = _as_inputs(X, w, mu, chol)
        for var, ndim, name in zip(inputs, (2, 1, 2, 3), ("X", "w", "mu", "chol"), strict=True):
            if var.ndim != ndim:
                raise TypeError(f"{name} must have {ndim} dimensions, got {var.ndim}.")
        # log-density (N,), responsibilities (K, N), whitened residuals (K, D, N)
        outputs = [pt.vector(dtype="float64"), pt.matrix(dtype="float64"), pt.tensor3(dtype="float64")]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, outputs):
        results = fused_logp(*(np.ascontiguousarray(v, dtype=float) for v in inputs))
        for out, value in zip(outputs, results, strict=True):
            out[0] = value

    def infer_shape(self, fgraph, node, shapes):
        (n, d), (k,) = shapes[0], shapes[1]
        return [(n,), (k, n), (k, d, n)]

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

    Inputs ``w`` (K,), ``chol`` (K, D, D), the responsibilities (K, N) and whitened
    residuals (K, D, N) from the forward pass, and ``g`` (N,), the gradient of a scalar
    with respect to the per-row log-densities. Outputs the gradient with respect to
    ``w`` (K,), ``mu`` (K, D) and ``chol`` (K, D, D) (lower triangle; zeros above).
    """

    __props__ = ()

    def make_node(self, w, chol, resp, white, g):
        inputs = [pt.as_tensor_variable(v, dtype="float64") for v in (w, chol, resp, white, g)]
        w, chol = inputs[0], inputs[1]
        return Apply(self, inputs, [w.type(), pt.matrix(dtype="float64"), chol.type()])

    def perform(self, node, inputs, outputs):
        grads = fused_logp_grad(*(np.ascontiguousarray(v, dtype=float) for v in inputs))
        for out, value in zip(outputs, grads, strict=True):
            out[0] = value

    def infer_shape(self, fgraph, node, shapes):
        (k,), chol_shape, _, white_shape, _ = shapes
        return [(k,), (k, white_shape[1]), chol_shape]


@register_funcify_default_op_cache_key(MvNormalMixtureLogp)
def _numba_mixture_logp(op, node=None, **kwargs):
    @numba.njit
    def forward(X, w, mu, chol):
        return fused_logp(
            np.ascontiguousarray(X), np.ascontiguousarray(w), np.ascontiguousarray(mu), np.ascontiguousarray(chol)
        )

    return forward, _CACHE_SALT


@register_funcify_default_op_cache_key(MvNormalMixtureLogpGrad)
def _numba_mixture_logp_grad(op, node=None, **kwargs):
    @numba.njit
    def backward(w, chol, resp, white, g):
        return fused_logp_grad(
            np.ascontiguousarray(w),
            np.ascontiguousarray(chol),
            np.ascontiguousarray(resp),
            np.ascontiguousarray(white),
            np.ascontiguousarray(g),
        )

    return backward, _CACHE_SALT


def mvnormal_mixture_logp(X, w, mu, chol) -> pt.TensorVariable:
    """Symbolic per-row log-density (N,) of the mixture; see :class:`MvNormalMixtureLogp`."""
    return MvNormalMixtureLogp()(X, w, mu, chol)[0]
