"""Fast log-density of samples under a mixture of factorized Normals.

This is the hot spot of the TC-decomposed ELBO: for B samples against B components
and D dimensions it touches B*B*D numbers, in the forward and again in the backward
pass.  A plain broadcast allocates several [B, B, D] temporaries per step (hundreds of
MB at B=2048) and costs more than the network it regularizes.  Here the work is done
in row chunks that stay in cache, with a hand-written backward pass that recomputes
what it needs instead of storing it, so memory is O(chunk * N * D).

Per dimension d, with t_ijd = (z_id - mu_jd) / s_jd and c = log(2 pi) / 2,

    log q(z_id | j) = -t_ijd^2 / 2 - log s_jd - c
    log q(z_id)     = log sum_j w_ij exp(log q(z_id | j))        (marginal, per d)
    log q(z_i)      = log sum_j w_ij exp(sum_d log q(z_id | j))  (joint)

The per-dimension sum over j is computed as exp(-t^2/2) summed against 1/s_j, which
is a batched matrix-vector product; the sample's own component (the diagonal) is
taken out of that sum and added back in log space, so the sum never underflows to
log(0) while the sample's own density is finite.
"""

import math

import torch

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _default_chunk(RD, N):
    # keep one [RD, chunk, N] working block around 1M numbers (fits in L2/L3)
    return max(1, min(256, (1 << 20) // max(1, RD * N)))


def _diag_index(RD, c, i0, N, device):
    """Index tuple of the entries (k, i0 + k) of a [RD, c, N] block (own components)."""
    k = torch.arange(c, device=device)
    return k, i0 + k


class _NormalLogMixture(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, loc, scale, log_w_diag, log_w_off, chunk):
        R, S, D = z.shape
        N = loc.shape[1]
        RD = R * D
        zT = z.permute(0, 2, 1).reshape(RD, S)
        locT = loc.permute(0, 2, 1).reshape(RD, N)
        log_s = scale.log()
        invT = torch.exp(-log_s).permute(0, 2, 1).reshape(RD, N)
        lsum = log_s.sum(-1)  # [R, N]
        diag = log_w_diag is not None
        joint = z.new_empty(R, S)
        msum = z.new_empty(RD, S)  # log sum_{j != own} exp(-t^2/2) / s_j
        for i0 in range(0, S, chunk):
            i1 = min(S, i0 + chunk)
            c = i1 - i0
            u = zT[:, i0:i1, None] - locT[:, None, :]  # [RD, c, N]
            u.mul_(invT[:, None, :]).square_()  # t^2
            jl = u.view(R, D, c, N).sum(1).mul_(-0.5).sub_(lsum[:, None, :]).add_(log_w_off)
            if diag:
                k, j = _diag_index(RD, c, i0, N, z.device)
                jl[:, k, j] += log_w_diag - log_w_off
            joint[:, i0:i1] = torch.logsumexp(jl, -1)
            e = u.mul_(-0.5).exp_()
            if diag:
                e[:, k, j] = 0.0
            msum[:, i0:i1] = torch.bmm(e, invT[:, :, None]).squeeze(-1).log_()
        joint.sub_(D * _HALF_LOG_2PI)
        marg = msum + log_w_off
        if diag:  # add the own component: log w_diag - eps^2/2 - log s_i
            own = (zT - locT[:, :S]).mul_(invT[:, :S]).square_().mul_(-0.5).add_(invT[:, :S].log())
            marg = torch.logaddexp(marg, own + log_w_diag)
        marg = marg.sub_(_HALF_LOG_2PI).view(R, D, S).permute(0, 2, 1)
        ctx.save_for_backward(z, loc, scale, joint, marg)
        ctx.meta = (log_w_diag, log_w_off, chunk)
        return joint, marg

    @staticmethod
    def backward(ctx, g_joint, g_marg):
        z, loc, scale, joint, marg = ctx.saved_tensors
        log_w_diag, log_w_off, chunk = ctx.meta
        R, S, D = z.shape
        N = loc.shape[1]
        RD = R * D
        diag = log_w_diag is not None
        if g_joint is None:
            g_joint = torch.zeros_like(joint)
        if g_marg is None:
            g_marg = torch.zeros_like(marg)
        zT = z.permute(0, 2, 1).reshape(RD, S)
        locT = loc.permute(0, 2, 1).reshape(RD, N)
        log_s = scale.log()
        invT = torch.exp(-log_s).permute(0, 2, 1).reshape(RD, N)
        lsum = log_s.sum(-1)
        # weight of component j in the marginal softmax, per sample and dim:
        #   g_id * w_ij * exp(-t^2/2) / s_j * exp(-c - log q(z_id))
        alpha = (g_marg.permute(0, 2, 1).reshape(RD, S)
                 * torch.exp(log_w_off - _HALF_LOG_2PI - marg.permute(0, 2, 1).reshape(RD, S)))
        ratio = math.exp(log_w_diag - log_w_off) if diag else 1.0
        g_z = z.new_empty(RD, S)
        sum_a = z.new_zeros(RD, N)
        sum_at = z.new_zeros(RD, N)
        sum_att = z.new_zeros(RD, N)
        for i0 in range(0, S, chunk):
            i1 = min(S, i0 + chunk)
            c = i1 - i0
            t = zT[:, i0:i1, None] - locT[:, None, :]
            t.mul_(invT[:, None, :])
            a = t.square()
            # joint softmax times its incoming gradient, [R, c, N]
            pj = a.view(R, D, c, N).sum(1).mul_(-0.5).sub_(lsum[:, None, :])
            pj.add_(log_w_off - D * _HALF_LOG_2PI).sub_(joint[:, i0:i1, None]).exp_()
            pj.mul_(g_joint[:, i0:i1, None])
            a.mul_(-0.5).exp_().mul_(invT[:, None, :]).mul_(alpha[:, i0:i1, None])
            a.view(R, D, c, N).add_(pj[:, None])
            if diag and ratio != 1.0:
                k, j = _diag_index(RD, c, i0, N, z.device)
                a[:, k, j] *= ratio
            sum_a += a.sum(1)
            a.mul_(t)
            g_z[:, i0:i1] = torch.bmm(a, invT[:, :, None]).squeeze(-1).neg_()
            sum_at += a.sum(1)
            a.mul_(t)
            sum_att += a.sum(1)
        g_loc = (sum_at * invT).view(R, D, N).permute(0, 2, 1)
        g_scale = ((sum_att - sum_a) * invT).view(R, D, N).permute(0, 2, 1)
        g_z = g_z.view(R, D, S).permute(0, 2, 1)
        return g_z, g_loc, g_scale, None, None, None


def normal_log_mixture(z, loc, scale, log_w_diag, log_w_off, chunk_size=None):
    """Joint and per-dimension log-density of samples under a Normal mixture.

    Parameters
    ----------
    z : Tensor [R, S, D]
        Samples, R independent replicates (e.g. particles) of S samples in D dims.
    loc, scale : Tensor [R, N, D]
        Parameters of the N factorized Normal components (scale > 0).
    log_w_diag : float or None
        Log-weight of the sample's own component (component i for sample i; needs
        S <= N).  ``None`` means every component has weight ``exp(log_w_off)``.
    log_w_off : float
        Log-weight of every other component.
    chunk_size : int, optional
        Samples per chunk; the default keeps the working block near 1M numbers.

    Returns
    -------
    log_q : Tensor [R, S]
        ``log sum_j w_ij q(z_i | j)``.
    log_q_dims : Tensor [R, S, D]
        ``log sum_j w_ij q(z_id | j)`` for each dimension d.
    """
    R, S, D = z.shape
    N = loc.shape[1]
    if log_w_diag is not None and S > N:
        raise ValueError(f"own-component weights need S <= N, got S={S}, N={N}")
    chunk = int(chunk_size) if chunk_size else _default_chunk(R * D, N)
    return _NormalLogMixture.apply(z, loc, scale, log_w_diag, log_w_off, chunk)
