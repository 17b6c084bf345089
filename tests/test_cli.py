"""The command line, driven in-process through ``cli.main(argv)``; one smoke test runs it as
a separate process (the module entry point, and a reader that closes the pipe early)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from conftest import dataset, fitted

WINE = "rating ~ temp + contact + (1|judge)"


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(*args, cwd=None) -> Ran:
    """``interlace ARGS`` in this process, from ``cwd``."""
    from interlace import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or "."), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            status = cli.main(list(args))
        except SystemExit as exit_:  # argparse's own exits
            status = exit_.code
    return Ran(status, out.getvalue(), err.getvalue())


def test_json_predict_and_plot(tmp_path):
    wine = dataset("wine")
    wine.to_csv(tmp_path / "wine.csv", index=False)
    wine.iloc[:4].to_csv(tmp_path / "new.csv", index=False)
    out = run("clmm", "--data", "wine.csv", "--formula", WINE, "--json", "fit.json",
              "--predict", "new.csv", "--out", "pred.csv", "--plot", "fit.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "data:    wine.csv" in out.stdout
    saved = json.loads((tmp_path / "fit.json").read_text())
    reference = fitted(WINE, "wine")
    assert saved["logLik"] == pytest.approx(reference.llf, abs=1e-6)
    assert saved["fixed_effects"]["tempwarm"] == pytest.approx(
        reference.fe_params["tempwarm"], abs=1e-5)
    pred = pd.read_csv(tmp_path / "pred.csv", index_col=0)
    assert pred.shape == (4, 5)
    assert pred.to_numpy() == pytest.approx(reference.predict().iloc[:4].to_numpy(), abs=1e-5)
    assert (tmp_path / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["--data", "missing.csv", "--formula", WINE], "no such file"),
    (["--formula", "rating ~ colour + (1|judge)"], "colour"),
    (["--predict", "x.csv"], "--predict needs --out"),
    (["--random", "(1|)"], "no grouping factor"),
])
def test_errors_are_one_readable_line(tmp_path, args, message):
    out = run("clmm", *args, cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interlace: error:")
    assert message in lines[0]


def test_verbose_shows_progress():
    out = run("clmm", "--verbose")
    assert out.returncode == 0
    assert "objective" in out.stdout and "max|grad|" in out.stdout


def test_levels_json_null_threads_and_help_in_process(tmp_path, capsys):
    """--levels orders a CSV's columns (response order, reference level), --json writes
    JSON without NaN, --threads is passed on, --help lists the choices."""
    from interlace import cli

    wine = dataset("wine")
    wine.to_csv(tmp_path / "wine.csv", index=False)
    status = cli.main(["clmm", "--data", str(tmp_path / "wine.csv"), "--formula", WINE,
                       "--levels", "temp=warm,cold", "--levels", "rating=1,2,3,4,5",
                       "--threads", "2", "--json", str(tmp_path / "fit.json")])
    assert status == 0
    out = capsys.readouterr().out
    # warm is the reference, as R's relevel gives: the coefficient is minus tempwarm's
    tempcold = -fitted(WINE, "wine").fe_params["tempwarm"]
    assert f"tempcold    {tempcold:.4f}" in out
    text = (tmp_path / "fit.json").read_text()
    saved = json.loads(text)  # strict JSON: NaN would not parse with parse_constant below
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert saved["fixed_effects"]["tempcold"] == pytest.approx(tempcold, abs=1e-4)
    assert cli.main(["clmm", "--data", str(tmp_path / "wine.csv"), "--formula", WINE,
                     "--levels", "temp=warm"]) == 2
    assert "value(s) ['cold'] not in ['warm']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["clmm", "--help"])
    helptext = capsys.readouterr().out
    for choice in ("cauchit", "symmetric2", "bobyqa"):
        assert choice in helptext


def test_unavailable_values_are_null_in_json():
    """A separated fit has no standard errors (NaN): to_dict() and --json give null."""
    import interlace

    wine = dataset("wine").assign(sep=(dataset("wine")["rating"].astype(int) >= 4) * 1.0)
    with pytest.warns(interlace.ConvergenceWarning):
        fit = interlace.clmm("rating ~ temp + sep + (1|judge)", wine)
    assert np.isnan(fit.bse).all()
    out = fit.to_dict()
    assert out["fixed_effects_bse"]["sep"] is None
    json.dumps(out, allow_nan=False)


def test_smoke_as_a_process_with_a_closed_pipe():
    """`python -m interlace clmm | head -1` in a fresh process: the entry point works and a
    reader that goes away early gets no BrokenPipeError traceback."""
    out = subprocess.run(f"'{sys.executable}' -m interlace clmm | head -1", shell=True,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.stdout.startswith("No --data given")
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


def test_plot_for_a_model_with_an_offset_and_an_outside_slope(tmp_path):
    from interlace import cli

    df = dataset("wine").assign(x=np.sin(np.arange(72.0)), z=np.cos(np.arange(72.0)))
    df.to_csv(tmp_path / "d.csv", index=False)
    status = cli.main(["clmm", "--data", str(tmp_path / "d.csv"), "--levels",
                       "rating=1,2,3,4,5", "--formula",
                       "rating ~ temp + offset(0.5 * z) + (1 + x|judge)",
                       "--plot", str(tmp_path / "fit.png")])
    assert status == 0
    assert (tmp_path / "fit.png").stat().st_size > 10_000
    import matplotlib.image

    height, width = matplotlib.image.imread(tmp_path / "fit.png").shape[:2]
    assert width > 2.5 * height  # three panels: intercept, slope, effects


def test_bundled_wine_data_and_one_line_errors():
    out = run("clmm")
    assert out.returncode == 0, out.stderr
    assert "bundled wine example" in out.stdout
    assert "tempwarm     3.0630" in out.stdout
    assert "judge  (Intercept) 1.279    1.131" in out.stdout
    bad = run("clmm", "--link", "nope")
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("interlace: error: argument --link: invalid choice: "
                                         "'nope'")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_prediction_and_tidy_options(tmp_path):
    wine = dataset("wine")
    wine.to_csv(tmp_path / "wine.csv", index=False)
    wine.iloc[:3].to_csv(tmp_path / "new.csv", index=False)
    out = run("clmm", "--data", "wine.csv", "--formula", WINE, "--levels", "rating=1,2,3,4,5",
              "--predict", "new.csv", "--out", "p.csv", "--type", "cum.prob", "--re-form",
              "marginal", "--se", "--tidy", "t.csv", "--exponentiate", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    reference = fitted(WINE, "wine")
    fit, se = reference.predict(wine.iloc[:3], type="cum.prob", re_form="marginal",
                                se_fit=True)
    written = pd.read_csv(tmp_path / "p.csv", index_col=0)
    assert list(written.columns) == list(fit.columns) + [f"se_{c}" for c in se.columns]
    np.testing.assert_allclose(written[fit.columns].to_numpy(), fit.to_numpy(), atol=1e-5)
    tidy = pd.read_csv(tmp_path / "t.csv")
    expected = reference.tidy(exponentiate=True)
    np.testing.assert_allclose(tidy["estimate"], expected["estimate"], rtol=1e-4)
    assert "--re-form" in run("clmm", "--help").stdout
    assert run("clmm", "--exponentiate").returncode == 2


def test_summary_format_and_tidy_interval_options(tmp_path):
    """--format prints the summary's tables; --level and --conf-method reach tidy; options
    without their partner are refused before anything is fitted or printed."""
    reference = fitted(WINE, "wine")
    for fmt, method in (("markdown", "as_markdown"), ("latex", "as_latex")):
        out = run("clmm", "--format", fmt, "--tidy", "t.csv", "--level", "0.9",
                  "--conf-method", "profile", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert getattr(reference.summary(), method)() in out.stdout
    tidy = pd.read_csv(tmp_path / "t.csv")
    expected = reference.tidy(level=0.9, conf_method="profile")
    assert list(tidy["term"]) == list(expected["term"])
    np.testing.assert_allclose(tidy[["conf_low", "conf_high"]],
                               expected[["conf_low", "conf_high"]], rtol=1e-4)
    for args, message in ((["--level", "0.9"], "--level goes with --tidy"),
                          (["--conf-method", "profile"], "--conf-method goes with --tidy"),
                          (["--out", "p.csv"], "--out goes with --predict"),
                          (["--tidy", "t.csv", "--level", "95"], "level must be a number")):
        out = run("clmm", *args, cwd=tmp_path)
        assert out.returncode == 2 and message in out.stderr and out.stdout == ""


def test_nominal_and_scale_effects_from_the_command_line(tmp_path):
    """The same fit as the API's (the clmm2 fixture's nominal model), printed with R's
    nominal: line and written to JSON."""
    import json

    from test_nominal_scale import reference

    wine = dataset("wine")
    wine.to_csv(tmp_path / "wine.csv", index=False)
    ran = run("clmm", "--data", "wine.csv", "--formula", "rating ~ temp + (1|judge)",
              "--nominal", "~ contact", "--json", "fit.json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "nominal: ~contact" in ran.stdout and "1|2.contactyes" in ran.stdout
    out = json.loads((tmp_path / "fit.json").read_text())
    expected = reference()["clmm2"]["nominal_laplace"]["exact_loglik_at_its_estimates"]
    assert out["logLik"] == pytest.approx(expected, abs=1e-6)
    ran = run("clmm", "--data", "wine.csv", "--formula", "rating ~ temp + contact + (1|judge)",
              "--scale", "~ temp", cwd=tmp_path)
    assert ran.returncode == 0 and "log-scale coefficients:" in ran.stdout
