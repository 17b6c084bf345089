"""Regenerate the pictures in docs/img from the code in docs/from_fit_to_paper.md:
python docs/make_figures.py (needs matplotlib)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import interlace

HERE = Path(__file__).parent / "img"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    wine = interlace.load_wine()
    fit = interlace.clmm("rating ~ temp + contact + (1|judge)", wine)
    fit.plot_effects("temp", re_form="marginal").savefig(HERE / "effects_temp.png", dpi=80)
    fit.plot_effects("temp", by="contact", kind="stacked", re_form="marginal").savefig(
        HERE / "effects_temp_by_contact.png", dpi=80)
    fit.plot_ranef("judge").savefig(HERE / "ranef_judge.png", dpi=80)
    new = wine.iloc[[0, 71]]
    fit.plot_latent(new).savefig(HERE / "latent.png", dpi=80)
    fit.check(nsim=250, seed=1, data=wine).plot(covariate="temp").savefig(
        HERE / "check.png", dpi=80)
    print(f"wrote {sorted(p.name for p in HERE.glob('*.png'))}")


if __name__ == "__main__":
    main()
