"""Link functions against scipy's distributions, closed-form tails and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from interlace.intervals import interval_terms, log_interval_prob
from interlace.links import LINKS, get_link

# cloglog's F(x) = 1 - exp(-exp(x)) is the minimum-Gumbel law, loglog's exp(-exp(-x)) the maximum.
SCIPY = {
    "logit": stats.logistic,
    "probit": stats.norm,
    "cloglog": stats.gumbel_l,
    "loglog": stats.gumbel_r,
    "cauchit": stats.cauchy,
}
X = np.linspace(-6, 6, 49)


@pytest.mark.parametrize("name", LINKS)
def test_matches_scipy_in_the_body(name):
    link, dist = get_link(name), SCIPY[name]
    np.testing.assert_allclose(link.cdf(X), dist.cdf(X), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(link.sf(X), dist.sf(X), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(link.pdf(X), dist.pdf(X), rtol=1e-12, atol=1e-300)
    p = np.linspace(0.01, 0.99, 21)
    np.testing.assert_allclose(link.ppf(p), dist.ppf(p), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", LINKS)
def test_log_density_derivatives_by_finite_differences(name):
    """ends() gives (log f)' and (log f)'' with F, 1 - F and f in one pass."""
    link = get_link(name)
    h = 1e-5

    def dlog(x):
        return link.ends(x)[3]

    fd1 = (link.logpdf(X + h) - link.logpdf(X - h)) / (2 * h)
    fd2 = (dlog(X + h) - dlog(X - h)) / (2 * h)
    F, S, f, d1, d2 = link.ends(X)
    np.testing.assert_allclose(d1, fd1, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(d2, fd2, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(F, link.cdf(X), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(S, link.sf(X), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(f, link.pdf(X), rtol=1e-12, atol=1e-300)


def test_tails_are_exact_closed_forms():
    far = np.array([30.0, 200.0, 700.0])
    logit, probit = get_link("logit"), get_link("probit")
    # log F(-x) = -x - log(1 + e^-x) for the logistic
    np.testing.assert_allclose(logit.logcdf(-far), -far - np.log1p(np.exp(-far)), rtol=1e-15)
    np.testing.assert_allclose(logit.logsf(far), -far - np.log1p(np.exp(-far)), rtol=1e-15)
    # Mills ratio: log Phi(-x) ~ -x^2/2 - log(x sqrt(2 pi)) - 1/x^2
    x = np.array([40.0, 100.0])
    approx = -x**2 / 2 - np.log(x * np.sqrt(2 * np.pi)) - 1 / x**2
    np.testing.assert_allclose(probit.logcdf(-x), approx, rtol=1e-6)
    # cloglog: log(1 - F(x)) = -exp(x) exactly; log F(-x) = log(1 - exp(-exp(-x))) ~ -x
    cll = get_link("cloglog")
    np.testing.assert_allclose(cll.logsf(np.array([3.0, 6.0])), -np.exp([3.0, 6.0]), rtol=1e-15)
    np.testing.assert_allclose(cll.logcdf(-far), -far, rtol=1e-12)
    ll = get_link("loglog")
    np.testing.assert_allclose(ll.logcdf(np.array([-3.0, -6.0])), -np.exp([3.0, 6.0]), rtol=1e-15)
    np.testing.assert_allclose(ll.logsf(far), -far, rtol=1e-12)
    # Cauchy: F(-x) = atan(1/x)/pi, 1/(pi x) for large x
    cau = get_link("cauchit")
    np.testing.assert_allclose(cau.logcdf(-np.array([1e8])), -np.log(np.pi * 1e8), rtol=1e-12)
    np.testing.assert_allclose(cau.logsf(np.array([1e8])), -np.log(np.pi * 1e8), rtol=1e-12)


@pytest.mark.parametrize("name", LINKS)
def test_interval_probability_has_no_cancellation(name):
    link = get_link(name)
    # Both ends far in the upper tail: pi = S(e2) - S(e1), tiny but exact.
    e2, e1 = SCIPY[name].isf(np.array([1e-10])), SCIPY[name].isf(np.array([1e-11]))
    expected = np.log(SCIPY[name].sf(e2) - SCIPY[name].sf(e1))
    np.testing.assert_allclose(log_interval_prob(link, e1, e2), expected, rtol=1e-10)
    # top and bottom categories
    assert log_interval_prob(link, np.array([np.inf]), np.array([2.0])) == pytest.approx(
        float(link.logsf(np.array([2.0]))[0]))
    assert log_interval_prob(link, np.array([-2.0]), np.array([-np.inf])) == pytest.approx(
        float(link.logcdf(np.array([-2.0]))[0]))


@pytest.mark.parametrize("name", LINKS)
def test_interval_derivatives_by_finite_differences(name):
    link = get_link(name)
    rng = np.random.default_rng(0)
    e2 = rng.uniform(-3, 2, 30)
    e1 = e2 + rng.uniform(0.1, 2, 30)
    e1[:5] = np.inf
    e2[5:10] = -np.inf
    t = interval_terms(link, e1, e2)
    h = 1e-6
    fin1, fin2 = np.isfinite(e1), np.isfinite(e2)
    d1 = (log_interval_prob(link, np.where(fin1, e1 + h, e1), e2)
          - log_interval_prob(link, np.where(fin1, e1 - h, e1), e2)) / (2 * h)
    d2 = (log_interval_prob(link, e1, np.where(fin2, e2 + h, e2))
          - log_interval_prob(link, e1, np.where(fin2, e2 - h, e2))) / (2 * h)
    np.testing.assert_allclose(t.p1, d1, rtol=1e-6, atol=1e-8)  # d log pi / d e1 = f1/pi
    np.testing.assert_allclose(-t.p2, d2, rtol=1e-6, atol=1e-8)
    # q = f'/pi and s = f''/pi from the density itself
    f = link.pdf
    fd_q1 = (f(np.where(fin1, e1 + h, 0)) - f(np.where(fin1, e1 - h, 0))) / (2 * h) / np.exp(t.log_prob)
    np.testing.assert_allclose(t.q1, np.where(fin1, fd_q1, 0), rtol=1e-5, atol=1e-8)
    def df(x):  # f' = f (log f)'
        return f(x) * link.ends(x)[3]

    x2 = np.where(fin2, e2, 0)
    fd_s2 = (df(x2 + h) - df(x2 - h)) / (2 * h) / np.exp(t.log_prob)
    np.testing.assert_allclose(t.s2, np.where(fin2, fd_s2, 0), rtol=1e-5, atol=1e-8)


def test_unknown_link_names_the_choices():
    with pytest.raises(ValueError, match="unknown link 'logistic'.*'logit'"):
        get_link("logistic")
