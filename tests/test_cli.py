"""The command line, driven as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import dataset, fitted

WINE = "rating ~ temp + contact + (1|judge)"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "interlace", *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=cwd)


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
