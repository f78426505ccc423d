r"""Truncated Wigner sampling of the charging master equation (approximate).

Equations
---------
The Wigner function's evolution equation has the drift of the positive-P equations with
alpha^+ = alpha^* (``_sde``; the Weyl symbols of a_s^dag^2 a_p and a_s^dag a_s are
alpha^*^2 beta and |alpha|^2 - 1/2, so there is no drift correction), third-order derivative
terms from the kappa coupling, which the truncated Wigner method drops, and the diffusion of
the baths, D_{alpha alpha^*} = gamma_j (n_j + 1/2): noise c (dW_3 + i dW_4) with
c = sqrt(gamma_j (n_j + 1/2) / 2) on each mode (sqrt(gamma_j / 2) per unit complex noise at
zero temperature).  The noise is additive, so Ito = Stratonovich.  Initial samples: the Wigner
function of the coherent product state (default the vacuum), alpha0 + (x + i y)/2 with x, y
standard normal (E|alpha - alpha0|^2 = 1/2).

The method is exact for the linear part (kappa = 0: damping, drive, detuning, thermal baths)
and approximate otherwise; its error is that of the dropped third-order terms, not a
statistical one.

Estimators
----------
Averages are symmetrically ordered: <a^dag a> = E|alpha|^2 - 1/2 (stored in normal order:
``a_dag_a`` and ``n_p`` in the records are sums of |alpha|^2 - 1/2), <a^2> = E[alpha^2].
Fock elements use the exact Wigner-function identity Tr[rho A] = int W_rho(alpha) A_W(alpha)
d^2 alpha with A_W the Weyl symbol of A = |n><m|:

    <m|rho|n> = E[ 2 (-1)^n sqrt(n!/m!) (2 alpha)^{m-n} exp(-2|alpha|^2) L_n^{(m-n)}(4|alpha|^2) ]
    (m >= n; the m < n elements are the conjugates),

L the generalised Laguerre polynomials.  Each estimate is bounded by 2 in modulus
(|e^{-x/2} x^{k/2} L_n^{(k)}(x)| <= sqrt((n+k)!/n!)), so its variance is at most 4, and the
estimated matrix is exactly Hermitian.  It is exact for the exact Wigner function (tested on
coherent and decaying thermal states); with truncated-Wigner samples it carries the method's
approximation.

Records: as for ``PositiveP`` (one dict per group: samples, diverged, spiking and the moment
sums, in normal order).
"""

from __future__ import annotations

from .positive_p import PositiveP

__all__ = ["Wigner"]


class Wigner(PositiveP):
    """Truncated Wigner sampler; the parameters are those of :class:`PositiveP`."""

    name = "wigner"
    positive_p = False

    @property
    def options(self) -> dict:
        return {**super().options, "ordering": "symmetric (moments converted to normal order)",
                "scheme": "stochastic Heun, three-point increments (additive noise: weak order 2)"}
