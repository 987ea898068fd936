"""The mixture density in compiled loops: one per-component log-density for everything.

The sampler's likelihood (:func:`fused_logp` and its gradient, behind
:mod:`penguin_utils.mixture_logp`, one draw at a time) calls :func:`_cluster_logdensity`
and normalises with :func:`_normalise`; assignment (:func:`over_draws`, behind
:mod:`penguin_utils.assign`, all chains and draws at once) does the same arithmetic with
up to 4 features' residuals in registers (:func:`_unrolled_logdensity`) and normalises in
one pass per cluster (tests/test_kernels.py holds it to SciPy).  Every innermost loop runs
over penguins so that it vectorises (exp included, see :func:`_exp_le0`).  This module
imports only NumPy, Numba and ``math``: the command-line path (load a fit, scale, assign)
must not pay for importing PyMC or PyTensor.  Numba caches the compiled kernels on disk
(``cache=True``).

Per penguin ``i`` and cluster ``k``, with ``z = L_k^{-1}(x_i - mu_k)``::

    q_ik = log w_k - sum_j log L_k[j, j] - D/2 log(2 pi) - |z|^2 / 2

One rule for the entries above the diagonal of each ``L_k``: they are an error where a
posterior comes in (:func:`penguin_utils.posterior.mixture_draws` refuses a posterior with
any), the models build ``chol`` lower triangular, and these loops read only the lower
triangle.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Reordering and fused multiply-add only: infinities and NaN keep their IEEE meaning.
_FASTMATH = {"reassoc", "contract", "arcp"}
# Fused multiply-add only: for the exp, whose rounding trick and two-part ln 2 depend on the
# exact order of operations, and for every function it is inlined into (Numba compiles
# inlined code with the caller's flags).
_EXACT_ORDER = {"contract"}


@numba.njit(cache=True, fastmath=_FASTMATH)
def _log_constant(w_k, chol_k):
    """``log w_k - sum_j log L_k[j, j] - D/2 log(2 pi)``: the part of ``q`` shared by all penguins."""
    n_feature = chol_k.shape[0]
    const = math.log(w_k) - n_feature * _HALF_LOG_2PI
    for j in range(n_feature):
        const -= math.log(chol_k[j, j])
    return const


@numba.njit(cache=True, fastmath=_FASTMATH)
def _cluster_logdensity(XT, mu_k, chol_k, w_k, z, q):
    """The per-component log-density: ``q[i] = log w_k + log N(x_i | mu_k, L_k L_k^T)``.

    ``XT`` (D, N) holds the penguins column-wise, so that the inner loop runs over
    penguins and vectorises. ``z`` (D, N) receives the whitened residuals
    ``L_k^{-1}(x_i - mu_k)`` (forward substitution), ``q`` (N,) the log-densities. Only
    the lower triangle of ``chol_k`` is read. Every density in the package comes from
    here: the sampler's likelihood and all of :mod:`penguin_utils.assign`.
    """
    n_feature, n_penguin = XT.shape
    const = _log_constant(w_k, chol_k)
    for i in range(n_penguin):
        q[i] = const
    # Every innermost loop runs over penguins, so that the compiler vectorises it.
    for j in range(n_feature):
        z_j = z[j]
        x_j = XT[j]
        centre = mu_k[j]
        for i in range(n_penguin):
            z_j[i] = x_j[i] - centre
        for m in range(j):
            l_jm = chol_k[j, m]
            z_m = z[m]
            for i in range(n_penguin):
                z_j[i] -= l_jm * z_m[i]
        inv_diag = 1.0 / chol_k[j, j]
        for i in range(n_penguin):
            s = z_j[i] * inv_diag
            z_j[i] = s
            q[i] -= 0.5 * s * s


# exp by Cody-Waite range reduction and a degree-13 Taylor polynomial (relative error
# below 1e-16 on |r| <= ln2/2), written as plain arithmetic so that loops calling it
# vectorise, unlike calls to math.exp. Compiled with _EXACT_ORDER. benchmarks/assign_speed.py
# times it against math.exp: it takes about a quarter of the time.
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer held in the low bits
_ROUND_BITS = 0x4338000000000000  # the bit pattern of _ROUND
_EXP_FLOOR = -700.0  # exp below this is taken as 0 (it is < 1e-304)


@intrinsic
def _int_bits(typingctx, x):
    """The bit pattern of a float64 as an int64 (a register move, which vectorises)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _float_from_bits(typingctx, n):
    """The float64 whose bit pattern is the int64 ``n``."""
    if n != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@numba.njit(cache=True, fastmath=_EXACT_ORDER, inline="always")
def _exp_reduced(d):
    """``(shifted, p)`` for ``-700 <= d <= 0``: ``exp(d) = p * 2**k``, ``k`` in the low bits of ``shifted``."""
    shifted = d * _LOG2E + _ROUND
    k = shifted - _ROUND  # round(d / ln 2)
    r = (d - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return shifted, p


@numba.njit(cache=True, fastmath=_EXACT_ORDER, inline="always")
def _exp_le0(a):
    """``exp(a)`` for ``a <= 0`` (0 below -700): one pass, so a loop calling it vectorises whole."""
    shifted, p = _exp_reduced(max(a, _EXP_FLOOR))
    scale = _float_from_bits((_int_bits(shifted) - _ROUND_BITS + 1023) << 52)  # 2**k
    return p * scale if a > _EXP_FLOOR else 0.0


@numba.njit(cache=True, fastmath=_EXACT_ORDER)
def _exp_nonpositive(a, scratch):
    """``a[:] = exp(a)`` in place for ``a <= 0``; ``scratch`` is a float array as long as ``a``.

    The sampler's exp (:func:`fused_logp`), in three passes; :func:`_exp_le0` gives the same
    numbers in one.
    """
    n = a.shape[0]
    for i in range(n):
        shifted, p = _exp_reduced(max(a[i], _EXP_FLOOR))
        a[i] = p if a[i] > _EXP_FLOOR else 0.0
        scratch[i] = shifted
    bits = scratch.view(np.int64)
    for i in range(n):  # 2**k from its exponent bits
        bits[i] = (bits[i] - _ROUND_BITS + 1023) << 52
    for i in range(n):
        a[i] *= scratch[i]


@numba.njit(cache=True, fastmath=_FASTMATH)
def _normalise(q, logsumexp, want_logsumexp):
    """Turn log-weights ``q`` (K, N) into probabilities over K, in place, per penguin.

    With ``want_logsumexp``, ``logsumexp`` (N,) receives ``log sum_k exp(q[k, i])``.
    """
    n_cluster, n_penguin = q.shape
    top = q[0].copy()
    for k in range(1, n_cluster):
        q_k = q[k]
        for i in range(n_penguin):
            top[i] = max(top[i], q_k[i])
    total = np.zeros(n_penguin)
    scratch = np.empty(n_penguin)
    for k in range(n_cluster):
        q_k = q[k]
        for i in range(n_penguin):
            q_k[i] -= top[i]
        _exp_nonpositive(q_k, scratch)
        for i in range(n_penguin):
            total[i] += q_k[i]
    for i in range(n_penguin):
        scratch[i] = 1.0 / total[i]
    for k in range(n_cluster):
        q_k = q[k]
        for i in range(n_penguin):
            q_k[i] *= scratch[i]
    if want_logsumexp:
        for i in range(n_penguin):
            logsumexp[i] = top[i] + math.log(total[i])


@numba.njit(cache=True, fastmath=_FASTMATH)
def fused_logp(X, w, mu, chol):
    """Per-row log-density (N,), responsibilities (K, N) and whitened residuals (K, D, N).

    One draw: ``X`` (N, D), ``w`` (K,), ``mu`` (K, D), ``chol`` (K, D, D). Used by the
    sampler's likelihood, which needs the last two outputs for its gradient.
    """
    n_penguin, n_feature = X.shape
    n_cluster = mu.shape[0]
    XT = np.ascontiguousarray(X.T)
    logp = np.empty(n_penguin)
    resp = np.empty((n_cluster, n_penguin))
    white = np.empty((n_cluster, n_feature, n_penguin))
    for k in range(n_cluster):
        _cluster_logdensity(XT, mu[k], chol[k], w[k], white[k], resp[k])
    _normalise(resp, logp, True)
    return logp, resp, white


@numba.njit(cache=True, fastmath=_FASTMATH)
def fused_logp_grad(w, chol, resp, white, g):
    """Gradient of ``sum_i g_i logp_i`` with respect to ``w``, ``mu`` and ``chol``.

    ``resp`` (K, N) and ``white`` (K, D, N) come from :func:`fused_logp`. With
    responsibilities ``r_ik`` and ``a = L_k^{-T} z``: ``d/dw_k = r_ik / w_k``,
    ``d/dmu_k = r_ik a``, ``d/dL_k = r_ik (tril(a z^T) - diag(1 / L_k[j, j]))``.
    """
    n_cluster, n_feature, n_penguin = white.shape
    d_w = np.empty(n_cluster)
    d_mu = np.zeros((n_cluster, n_feature))
    d_chol = np.zeros((n_cluster, n_feature, n_feature))
    r = np.empty(n_penguin)
    rz = np.empty(n_feature)
    rzz = np.empty((n_feature, n_feature))
    for k in range(n_cluster):
        # Responsibility-weighted sums of 1, z and z z^T; the L^{-T} solves then happen
        # once per cluster instead of once per penguin.
        r_sum = 0.0
        for i in range(n_penguin):
            r[i] = g[i] * resp[k, i]
            r_sum += r[i]
        for j in range(n_feature):
            acc = 0.0
            for i in range(n_penguin):
                acc += r[i] * white[k, j, i]
            rz[j] = acc
            for m in range(j + 1):
                acc = 0.0
                for i in range(n_penguin):
                    acc += r[i] * white[k, j, i] * white[k, m, i]
                rzz[j, m] = acc
                rzz[m, j] = acc
        d_w[k] = r_sum / w[k]
        # Back substitution L^T A = B for the vector rz and the matrix rzz at once.
        for j in range(n_feature - 1, -1, -1):
            inv_diag = 1.0 / chol[k, j, j]
            s = rz[j]
            for m in range(j + 1, n_feature):
                s -= chol[k, m, j] * d_mu[k, m]
            d_mu[k, j] = s * inv_diag
            for c in range(n_feature):
                s = rzz[j, c]
                for m in range(j + 1, n_feature):
                    s -= chol[k, m, j] * d_chol[k, m, c]
                d_chol[k, j, c] = s * inv_diag
        for j in range(n_feature):
            d_chol[k, j, j] -= r_sum / chol[k, j, j]
            for c in range(j + 1, n_feature):
                d_chol[k, j, c] = 0.0
    return d_w, d_mu, d_chol


#: What :func:`over_draws` returns, each of shape (S, N, K) unless noted.
COMPONENT_LOGP = 0  # q itself
PROBABILITIES = 1  # q normalised over clusters, per penguin
MEAN_PROBABILITIES = 2  # their mean over draws, shape (1, N, K)
LOG_LIKELIHOOD = 3  # logsumexp over clusters of q, shape (S, N, 1)


# Penguins per block in over_draws: a block's inputs, log-weights and running totals
# (~25 KB) stay in the L1 cache while every draw passes over them.
_BLOCK = 256
# Up to this many features, over_draws computes a penguin's whitened residuals in
# registers (padding fewer features with x = mu = 0 and L's row of the identity, which
# adds exactly 0): one pass over the block per cluster instead of ~D^2 / 2 + 2 passes.
_UNROLLED = 4
_N_PARAM = 1 + 2 * _UNROLLED + _UNROLLED * (_UNROLLED - 1) // 2  # const, mu, 1 / diag(L), below it


@numba.njit(cache=True, fastmath=_FASTMATH)
def _unrolled_params(w, mu, chol):
    """Per draw and cluster, what :func:`_unrolled_logdensity` needs, padded to 4 features: (S, K, 15).

    ``[log constant, mu_0..3, 1 / L_00..33, L_10, L_20, L_21, L_30, L_31, L_32]``.
    """
    n_sample, n_cluster, n_feature = mu.shape
    params = np.zeros((n_sample, n_cluster, _N_PARAM))
    for s in range(n_sample):
        for k in range(n_cluster):
            chol_k = chol[s, k]
            p = params[s, k]
            p[0] = _log_constant(w[s, k], chol_k)
            c = 1 + 2 * _UNROLLED
            for j in range(_UNROLLED):
                p[1 + _UNROLLED + j] = 1.0
                if j < n_feature:
                    p[1 + j] = mu[s, k, j]
                    p[1 + _UNROLLED + j] = 1.0 / chol_k[j, j]
                for m in range(j):
                    if j < n_feature:
                        p[c] = chol_k[j, m]
                    c += 1
    return params


@numba.njit(cache=True, fastmath=_FASTMATH)
def _unrolled_logdensity(XT, p, q, top, first):
    """:func:`_cluster_logdensity` for up to 4 features, each penguin's residuals in registers.

    ``XT`` (4, B) the penguins, zero-padded to 4 features; ``p`` (15,) one row of
    :func:`_unrolled_params`; ``q`` (B,) receives the log-densities, and ``top`` (B,) their
    maximum over the clusters so far (``first``: this is the first cluster). The same
    forward substitution (the squares summed before halving); the loop over penguins
    vectorises whole.
    """
    const, m0, m1, m2, m3 = p[0], p[1], p[2], p[3], p[4]
    i0, i1, i2, i3 = p[5], p[6], p[7], p[8]
    l10, l20, l21, l30, l31, l32 = p[9], p[10], p[11], p[12], p[13], p[14]
    x0, x1, x2, x3 = XT[0], XT[1], XT[2], XT[3]
    for i in range(q.shape[0]):
        z0 = (x0[i] - m0) * i0
        z1 = (x1[i] - m1 - l10 * z0) * i1
        z2 = (x2[i] - m2 - l20 * z0 - l21 * z1) * i2
        z3 = (x3[i] - m3 - l30 * z0 - l31 * z1 - l32 * z2) * i3
        q_i = const - 0.5 * (z0 * z0 + z1 * z1 + z2 * z2 + z3 * z3)
        q[i] = q_i
        top[i] = q_i if first else max(top[i], q_i)


# _EXACT_ORDER: _exp_le0 is inlined here; the loops over penguins vectorise without reordering.
@numba.njit(cache=True, fastmath=_EXACT_ORDER, nogil=True)  # threads (Dask) run it in parallel
def over_draws(X, w, mu, chol, what):
    """Run the per-component density over every draw and reduce it as ``what`` says.

    ``X`` (N, D); ``w`` (S, K), ``mu`` (S, K, D), ``chol`` (S, K, D, D), with all chains
    and draws flattened into S. ``what`` is one of :data:`COMPONENT_LOGP`,
    :data:`PROBABILITIES`, :data:`MEAN_PROBABILITIES` or :data:`LOG_LIKELIHOOD`; only
    the output it asks for is stored (the mean is summed as the draws go). Penguins are
    taken :data:`_BLOCK` at a time, all draws for each block; each penguin's numbers are
    the same whatever block it falls in. Per draw, each cluster is one pass over the block
    (:func:`_unrolled_logdensity`, or :func:`_cluster_logdensity` beyond 4 features), and
    the normalisation over clusters one pass per cluster with :func:`_exp_le0`.
    """
    n_sample, n_cluster = w.shape
    n_penguin, n_feature = X.shape
    unrolled = n_feature <= _UNROLLED
    n_block = -(-n_penguin // _BLOCK)
    XB = np.zeros((n_block, max(n_feature, _UNROLLED), _BLOCK))  # the last block padded with zeros
    for i in range(n_penguin):
        for j in range(n_feature):
            XB[i // _BLOCK, j, i % _BLOCK] = X[i, j]
    params = _unrolled_params(w, mu, chol) if unrolled else np.empty((0, 0, _N_PARAM))
    if what == MEAN_PROBABILITIES:
        out = np.empty((1, n_penguin, n_cluster))
    elif what == LOG_LIKELIHOOD:
        out = np.empty((n_sample, n_penguin, 1))
    else:
        out = np.empty((n_sample, n_penguin, n_cluster))
    mean = np.empty((n_cluster, _BLOCK))
    q = np.empty((n_cluster, _BLOCK))
    z = np.empty((n_feature, _BLOCK))
    top = np.empty(_BLOCK)
    total = np.empty(_BLOCK)
    for b in range(n_block):
        start = b * _BLOCK
        n = min(_BLOCK, n_penguin - start)
        mean[:] = 0.0
        for s in range(n_sample):
            for k in range(n_cluster):
                if unrolled:
                    _unrolled_logdensity(XB[b], params[s, k], q[k], top, k == 0)
                else:
                    _cluster_logdensity(XB[b], mu[s, k], chol[s, k], w[s, k], z, q[k])
                    q_k = q[k]
                    for i in range(_BLOCK):
                        top[i] = q_k[i] if k == 0 else max(top[i], q_k[i])
            if what == COMPONENT_LOGP:
                out[s, start : start + n] = q[:, :n].T
                continue
            # logsumexp and normalisation over clusters, as _normalise, one pass per cluster
            for k in range(n_cluster):
                q_k = q[k]
                for i in range(_BLOCK):
                    e = _exp_le0(q_k[i] - top[i])
                    q_k[i] = e
                    total[i] = e if k == 0 else total[i] + e
            if what == LOG_LIKELIHOOD:
                for i in range(n):
                    out[s, start + i, 0] = top[i] + math.log(total[i])
                continue
            for i in range(_BLOCK):
                total[i] = 1.0 / total[i]
            if what == MEAN_PROBABILITIES:
                for k in range(n_cluster):
                    q_k, mean_k = q[k], mean[k]
                    for i in range(_BLOCK):
                        mean_k[i] += q_k[i] * total[i]
            else:
                for k in range(n_cluster):
                    for i in range(n):
                        out[s, start + i, k] = q[k, i] * total[i]
        if what == MEAN_PROBABILITIES:
            out[0, start : start + n] = (mean[:, :n] / n_sample).T
    return out
