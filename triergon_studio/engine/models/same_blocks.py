"""The transformer block of the SAME autoencoders (see ``same.py``): DyT (or RMS) norms, differential
self-attention with q/k norms and rotary embedding on half of each head, and a gated feed-forward.

Parameters and buffers carry upstream's names (``pre_norm``, ``self_attn.to_qkv``, ``self_attn.q_norm``,
``ff.ff.0.proj``, ``ff.ff.2``, ``rope.inv_freq``, ...). The forward pass computes upstream's function with
fewer passes over memory, which is what bounds it on a CPU: a norm's gain and offset are folded into the
projection that follows it, residuals are added by the matrix product itself, and q/k norm and rotary run
once over all query/key heads.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_ROPE_BASE = 10000.0
_PI = 3.14159265359  # upstream's Sin activation constant

# Upstream's fused projection yields q, k, v, q_diff, k_diff; we reorder its rows to q, q_diff, k, k_diff, v.
_DIFF_ORDER = (0, 3, 1, 4, 2)


class DyT(nn.Module):
    """Dynamic tanh norm: ``gamma * tanh(alpha * x) + beta`` (alpha a learned scalar)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((1,), 4.0))
        self.gamma = nn.Parameter(torch.ones(dim))
        self.beta: nn.Parameter | None = nn.Parameter(torch.zeros(dim))

    def core(self, x: Tensor) -> Tensor:
        """The norm without its gain and offset."""
        return (x * self.alpha.to(x.dtype)).tanh_()

    def forward(self, x: Tensor) -> Tensor:
        assert self.beta is not None
        return torch.addcmul(self.beta.to(x.dtype), self.gamma.to(x.dtype), self.core(x))


class RMSNorm(nn.Module):
    """RMS norm with a learned gain (upstream's choice when ``dyt`` is false)."""

    beta: nn.Parameter | None = None

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def core(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, x.shape[-1:], eps=self.eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, x.shape[-1:], weight=self.gamma.to(x.dtype), eps=self.eps)


Norm = DyT | RMSNorm


def make_norm(dim: int, dyt: bool) -> Norm:
    return DyT(dim) if dyt else RMSNorm(dim, 1e-3)


def _fold(
    weight: Tensor, bias: Tensor | None, norm: Norm, dtype: torch.dtype
) -> tuple[Tensor, Tensor | None]:
    """``W (gamma * h + beta) + b`` as ``(W * gamma) h + (W beta + b)``."""
    w = weight * norm.gamma
    if norm.beta is not None:
        extra = weight @ norm.beta
        bias = extra if bias is None else bias + extra
    return w.to(dtype), bias.to(dtype) if bias is not None else None


class _FoldCache:
    """Folded weights, reused across calls while the tensors they came from are unchanged (inference only:
    under autograd they are rebuilt each call so gradients flow)."""

    def __init__(self) -> None:
        self.key: tuple[object, ...] | None = None
        self.value: tuple[Tensor, Tensor | None] = (torch.empty(0), None)

    def get(
        self, build: Callable[[], tuple[Tensor, Tensor | None]], deps: list[Tensor | None]
    ) -> tuple[Tensor, Tensor | None]:
        if torch.is_grad_enabled():
            return build()
        key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in deps if t is not None)
        if key != self.key:
            self.value = build()
            self.key = key
        return self.value


def _reorder(weight: Tensor, order: tuple[int, ...] | None) -> Tensor:
    if order is None:
        return weight
    return weight.view(len(order), -1, weight.shape[1])[list(order)].flatten(0, 1)


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    return torch.addmm(bias, x, weight.t()) if bias is not None else x @ weight.t()


class Rotary(nn.Module):
    """Rotary embedding over the first ``dim`` channels of a head (halves rotated, not interleaved)."""

    inv_freq: Tensor  # a registered buffer

    def __init__(self, dim: int) -> None:
        super().__init__()
        # Persistent: upstream checkpoints carry ``rope.inv_freq``.
        self.register_buffer("inv_freq", 1.0 / (_ROPE_BASE ** (torch.arange(0, dim, 2).float() / dim)))

    def tables(self, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """``cos`` and ``sin`` ``[n, rot/2]``: channel ``i`` of the rotated part pairs with ``i + rot/2``."""
        inv_freq: Tensor = self.inv_freq
        t = torch.arange(n, device=device, dtype=torch.float32)
        freqs = torch.outer(t, inv_freq.float())
        return freqs.cos(), freqs.sin()


def _rotate_(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary in place on the first ``2 * cos.shape[-1]`` channels of ``x`` (float32); the rest stays:
    ``(x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)``, upstream's ``rotate_half`` form."""
    q = cos.shape[-1]
    x1, x2 = x[..., :q], x[..., q : 2 * q]
    if torch.is_grad_enabled() and x.requires_grad:  # differentiated (curve guidance): out of place
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin, x[..., 2 * q :]), dim=-1)
    r1 = (x1 * cos).addcmul_(x2, sin, value=-1.0)
    x2.mul_(cos).addcmul_(x1, sin)
    x1.copy_(r1)
    return x


class Attention(nn.Module):
    """Self-attention with q/k norms, partial rotary and, when ``differential``, a second (q, k) pair whose
    attention output is subtracted (``softmax(q k) v - softmax(q' k') v``)."""

    def __init__(self, dim: int, dim_heads: int, differential: bool, dyt: bool) -> None:
        super().__init__()
        self.heads, self.dim_heads, self.differential = dim // dim_heads, dim_heads, differential
        self.to_qkv = nn.Linear(dim, dim * (5 if differential else 3), bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        self.q_norm = make_norm(dim_heads, dyt)
        self.k_norm = make_norm(dim_heads, dyt)
        self._folded = _FoldCache()

    def heads_out(
        self,
        h: Tensor,
        norm: Norm,
        shape: tuple[int, int],
        rope: tuple[Tensor, Tensor],
        window: tuple[int, int, int] | None,
    ) -> Tensor:
        """``h`` is the pre-norm core ``[b*n, dim]``; returns the merged heads ``[b*n, dim]`` before ``to_out``."""
        b, n = shape
        heads, dh = self.heads, self.dim_heads
        pairs = 2 if self.differential else 1
        qn, kn = self.q_norm, self.k_norm
        deps = [self.to_qkv.weight, norm.gamma, norm.beta, qn.gamma, kn.gamma, getattr(qn, "alpha", None)]
        w, bias = self._folded.get(
            lambda: self._fold_qkv(norm, pairs, h.dtype), [*deps, getattr(kn, "alpha", None)]
        )
        y = _linear(h, w, bias).view(b, n, 2 * pairs + 1, heads, dh)
        qk = self._qk_norm(y[:, :, : 2 * pairs], pairs)
        cos, sin = rope
        work = qk.float() if qk.dtype != torch.float32 else qk  # upstream rotates in float32
        qk = _rotate_(work, cos[:, None, None, :], sin[:, None, None, :]).to(h.dtype)
        v = y[:, :, 2 * pairs].transpose(1, 2)  # [b, heads, n, dh]
        outs = []
        for p in range(pairs):
            q = qk[:, :, p].transpose(1, 2)
            k = qk[:, :, pairs + p].transpose(1, 2)
            outs.append(
                F.scaled_dot_product_attention(q, k, v)
                if window is None
                else banded_attention(q, k, v, *window)
            )
        out = outs[0] - outs[1] if pairs == 2 else outs[0]
        return out.transpose(1, 2).reshape(b * n, heads * dh)

    def _fold_qkv(self, norm: Norm, pairs: int, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
        """The pre-norm's gain/offset folded into ``to_qkv`` (rows reordered to q, q', k, k', v), and with DyT
        q/k norms their ``alpha`` too: ``tanh(alpha (W h + b)) = tanh((alpha W) h + alpha b)``."""
        weight = _reorder(self.to_qkv.weight, _DIFF_ORDER if self.differential else None)
        w, bias = _fold(weight, None, norm, weight.dtype)
        if isinstance(self.q_norm, DyT) and isinstance(self.k_norm, DyT):
            rows = w.shape[0] // (2 * pairs + 1)
            alpha = torch.ones(2 * pairs + 1, dtype=w.dtype, device=w.device)
            alpha[:pairs], alpha[pairs : 2 * pairs] = self.q_norm.alpha, self.k_norm.alpha
            scale = alpha.repeat_interleave(rows)
            w = w * scale[:, None]
            bias = bias * scale if bias is not None else None
        return w.to(dtype), bias.to(dtype) if bias is not None else None

    def _qk_norm(self, qk: Tensor, pairs: int) -> Tensor:
        """Norm q (and q') with ``q_norm``, k (and k') with ``k_norm``, in one pass over ``[b, n, 2p, h, d]``;
        a DyT's ``alpha`` is already in the projection (``_fold_qkv``)."""
        dtype = qk.dtype
        gamma = torch.stack((self.q_norm.gamma,) * pairs + (self.k_norm.gamma,) * pairs)[:, None, :].to(dtype)
        if isinstance(self.q_norm, DyT) and isinstance(self.k_norm, DyT):
            assert self.q_norm.beta is not None and self.k_norm.beta is not None
            betas = (self.q_norm.beta,) * pairs + (self.k_norm.beta,) * pairs
            beta = torch.stack(betas)[:, None, :].to(dtype)
            t = torch.tanh(qk)
            if torch.is_grad_enabled() and t.requires_grad:  # curve guidance differentiates the decoder
                return torch.addcmul(beta, gamma, t)
            return torch.addcmul(beta, gamma, t, out=t)
        eps = self.q_norm.eps if isinstance(self.q_norm, RMSNorm) else 1e-3
        return F.rms_norm(qk, qk.shape[-1:], eps=eps) * gamma


def banded_attention(q: Tensor, k: Tensor, v: Tensor, group: int, left: int, right: int) -> Tensor:
    """Attention where query i sees keys i-left*group .. i+right*group, computed per group of ``group``
    queries against their (left + 1 + right) neighbouring key groups (n is a multiple of ``group``)."""
    b, h, n, d = q.shape
    g = n // group
    span = (left + 1 + right) * group
    pad = (0, 0, left * group, right * group)
    kw = F.pad(k, pad).unfold(2, span, group).transpose(-1, -2)  # [b, h, g, span, d]
    vw = F.pad(v, pad).unfold(2, span, group).transpose(-1, -2)
    qi = torch.arange(group, device=q.device)[:, None]
    ki = torch.arange(span, device=q.device)[None, :]
    delta = ki - qi - left * group
    band = (delta >= -left * group) & (delta <= right * group)  # [group, span]
    pos = torch.arange(g, device=q.device)[:, None] * group + ki - left * group  # absolute key index
    inside = (pos >= 0) & (pos < n)  # [g, span]
    mask = band[None] & inside[:, None, :]  # [g, group, span]
    out = F.scaled_dot_product_attention(q.reshape(b, h, g, group, d), kw, vw, attn_mask=mask)
    return out.reshape(b, h, n, d)


class _GLUProj(nn.Module):
    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)


class FeedForward(nn.Module):
    """Gated feed-forward ``W2 (a * act(gate)) + b2`` with SiLU or ``sin(pi x)`` (upstream's sinusoidal
    blocks); named ``ff.0.proj`` / ``ff.2`` like upstream's Sequential."""

    def __init__(self, dim: int, mult: float, sinusoidal: bool) -> None:
        super().__init__()
        inner = int(dim * mult)
        self.sinusoidal = sinusoidal
        self.ff = nn.ModuleList([_GLUProj(dim, inner), nn.Identity(), nn.Linear(inner, dim)])
        self._folded = _FoldCache()

    def gated(self, h: Tensor, norm: Norm) -> Tensor:
        """``a * act(gate)`` for the norm core ``h`` ``[m, dim]``."""
        proj: nn.Linear = self.ff[0].proj  # type: ignore[assignment]
        w, bias = self._folded.get(
            lambda: _fold(proj.weight, proj.bias, norm, h.dtype),
            [proj.weight, proj.bias, norm.gamma, norm.beta],
        )
        a, gate = _linear(h, w, bias).chunk(2, dim=-1)
        if torch.is_grad_enabled() and gate.requires_grad:  # differentiated (curve guidance): out of place
            return (torch.sin(gate * _PI) if self.sinusoidal else F.silu(gate)) * a
        if self.sinusoidal:
            gate.mul_(_PI).sin_()
        else:
            F.silu(gate, inplace=True)
        return gate.mul_(a)


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm(x))`` then ``x + ff(norm(x))``."""

    def __init__(
        self, dim: int, dim_heads: int, *, differential: bool, dyt: bool, ff_mult: float, sinusoidal: bool
    ) -> None:
        super().__init__()
        self.pre_norm = make_norm(dim, dyt)
        self.self_attn = Attention(dim, dim_heads, differential, dyt)
        self.ff_norm = make_norm(dim, dyt)
        self.ff = FeedForward(dim, ff_mult, sinusoidal)
        self.rope = Rotary(dim_heads // 2)

    def forward(self, x: Tensor, window: tuple[int, int, int] | None) -> Tensor:
        b, n, dim = x.shape
        x2 = x.reshape(b * n, dim)
        rope = self.rope.tables(n, x.device)  # positions restart in every chunk
        merged = self.self_attn.heads_out(self.pre_norm.core(x2), self.pre_norm, (b, n), rope, window)
        x2 = torch.addmm(x2, merged, self.self_attn.to_out.weight.to(x.dtype).t())
        out: nn.Linear = self.ff.ff[2]  # type: ignore[assignment]
        gated = self.ff.gated(self.ff_norm.core(x2), self.ff_norm)
        x2 = torch.addmm(x2, gated, out.weight.to(x.dtype).t()).add_(out.bias.to(x.dtype))
        return x2.view(b, n, dim)
