"""Section 16 of the benchmark (bench/predict.py): the CDNOW validation's report and its findings, one
line per target of issue 17, on a quick run of the 1/10 sample."""

import copy
import json

import pytest

from bench import predict
from bench import run as bench_run

pytest.importorskip("lifetimes")

from emma_local.lab.predict import real


@pytest.fixture(scope="module")
def quick():
    return predict.measure(predict.QUICK_DATASET, resamples=60, seed=5)


def test_the_plans_use_the_master_file_and_the_sample():
    assert bench_run.FULL["predict_data"] == "cdnow" and bench_run.QUICK["predict_data"] == "cdnow-sample"
    assert predict.DATASET == "cdnow" and predict.QUICK_DATASET == "cdnow-sample"


def test_measure_runs_the_validation(quick):
    assert quick["status"] == "ok" and quick["dataset"]["customers"] == 2357
    assert quick["bootstrap"] == {**quick["bootstrap"], "resamples": 60, "seed": 5}
    assert quick["run_s"] >= quick["timing"]["total_s"] > 0
    # It lands in results.json with the rest: plain JSON after the runner's rounding.
    again = json.loads(json.dumps(bench_run._rounded(quick)))
    assert again["horizons"][0]["auc"]["emma"]["auc"] == pytest.approx(quick["horizons"][0]["auc"]["emma"]["auc"])


def test_report(quick):
    text = predict.report(quick)
    assert text.startswith("\n16. Predictions on real customers (CDNOW, CDNOW_sample.txt: 2,357 customers")
    for label in ("Emma, fitted prior", "Emma, default prior", "recency", "BG/NBD (lifetimes)", "MBG/NBD (lifetimes)"):
        assert f"  {label:<22}" in text
    assert "Emma - BG/NBD (pts)" in text and "10 equal-count bins" in text and "purchases 1,882" in text
    assert text.count("  target ") == 8 and "Section took" in text


def test_findings_state_every_target_with_its_figures(quick):
    found = predict.findings(quick)
    targets = [f for f in found if ": target " in f]
    assert len(targets) == 4
    assert all(f.startswith("predictions (CDNOW sample): target ") for f in targets)
    bg, rec, ece, total = targets
    assert "at least equal to BG/NBD at every horizon" in bg and "30 days" in bg and "39 weeks" in bg
    assert "at least 2 points above recency at every horizon" in rec
    for h in quick["horizons"]:
        assert f"{h['auc']['emma']['auc']:.3f} vs {h['auc']['bgnbd']['auc']:.3f}" in bg
        assert f"{h['auc']['emma']['auc']:.3f} vs {h['auc']['recency']['auc']:.3f}" in rec
    assert f"ECE {quick['horizons'][0]['calibration']['ece']:.4f}" in ece
    hs = quick["horizons"]
    assert ("every horizon MET: " in bg) == all(h["emma_minus"]["bgnbd"]["diff"] >= 0 for h in hs)
    assert ("every horizon MET: " in rec) == all(h["emma_minus"]["recency"]["diff"] >= 0.02 for h in hs)
    assert ("30 days MET: " in ece) == (hs[0]["calibration"]["ece"] < 0.02)
    if quick["emma"]["expected_purchases"]:
        assert " MET: " in total or " NOT MET: " in total
    else:
        assert "NOT MEASURED: Emma has no expected_purchases yet" in total


def test_findings_follow_the_figures(quick):
    better = copy.deepcopy(quick)
    for h in better["horizons"]:
        h["emma_minus"]["bgnbd"]["diff"] = 0.001
        h["emma_minus"]["recency"]["diff"] = 0.021
        h["emma_minus"]["emma_default_prior"]["ci95"] = [-0.001, 0.01]
    better["horizons"][-1]["aggregate"]["emma"] = {"predicted": 1900.0, "error": 0.0096}
    better["targets"] = real.targets(better)
    found = predict.findings(better)
    assert "at least equal to BG/NBD at every horizon MET" in found[0]
    assert "above recency at every horizon MET" in found[1]
    assert "within 10% MET: Emma 1,900 vs actual 1,882 (+1.0%)" in found[3]
    assert not any("default prior" in f for f in found)
    worse = copy.deepcopy(better)
    worse["horizons"][1]["emma_minus"]["recency"]["diff"] = 0.019  # one horizon short is enough
    assert "above recency at every horizon NOT MET" in predict.findings(worse)[1]


def test_skipped_without_the_dev_extra(monkeypatch):
    monkeypatch.setattr(real, "datasets_dir", lambda: None)
    result = predict.measure(predict.QUICK_DATASET, resamples=10)
    assert result["status"] == "skipped: install the dev extra (lifetimes)"
    assert predict.report(result) == (
        "\n16. Predictions on real customers (CDNOW, cdnow-sample): skipped: install the dev extra (lifetimes)"
    )
    assert predict.findings(result) == [
        "predictions on real customers (CDNOW): skipped: install the dev extra (lifetimes)."
    ]


def test_merge_replaces_only_this_section(quick, tmp_path):
    path = tmp_path / "results.json"
    old = ["rules: something", "predictions (CDNOW full): an old figure", "campaigns: other"]
    path.write_text(json.dumps({"rules": {"x": 1}, "predict": {"old": True}, "findings": old}))
    predict.merge(quick, path)
    data = json.loads(path.read_text())
    assert data["rules"] == {"x": 1} and data["predict"]["dataset"]["customers"] == 2357
    assert data["findings"][:2] == ["rules: something", "campaigns: other"]
    assert data["findings"][2:] == predict.findings(quick)
