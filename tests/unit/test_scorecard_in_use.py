"""Scoring with a scorecard you adopted (a learned one): `healthscore run --scorecard FILE`, or
HEALTHSCORE_SCORECARD for schedules and sensors; a broken card is refused before anything runs."""

from __future__ import annotations

from orchestration.lib.scoring.scorecard import DEFAULT_SCORECARD, scorecard_in_use


def test_the_environment_names_the_card_in_use(monkeypatch, tmp_path):
    monkeypatch.delenv("HEALTHSCORE_SCORECARD", raising=False)
    assert scorecard_in_use() == DEFAULT_SCORECARD
    monkeypatch.setenv("HEALTHSCORE_SCORECARD", str(tmp_path / "learned.yml"))
    assert scorecard_in_use() == str(tmp_path / "learned.yml")


def test_run_refuses_a_broken_scorecard_before_loading_anything(monkeypatch, tmp_path, capsys):
    from orchestration.cli.main import main

    monkeypatch.setenv("HEALTHSCORE_DATA_DIR", str(tmp_path / "data"))
    bad = tmp_path / "learned.yml"
    bad.write_text("name: x\nversion: '1'\n")
    assert main(["run", "--scorecard", str(bad)]) == 2
    out = capsys.readouterr()
    assert "learned.yml is invalid" in out.out + out.err
    assert not (tmp_path / "data").exists()  # no landing, no warehouse, no demo data generated
    missing = tmp_path / "nope.yml"
    assert main(["run", "--scorecard", str(missing)]) == 2
    out = capsys.readouterr()
    assert "does not exist" in out.out + out.err
