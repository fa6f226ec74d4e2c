"""The CLI through click's CliRunner: help, errors as one line with exit 2, train and evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edge_fer.cli import cli


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    print(result.output)  # shown by pytest when an assertion fails
    return result


def test_help_lists_every_command_with_its_whole_summary() -> None:
    result = run("--help")
    assert result.exit_code == 0
    listed = result.output.split("Commands:", 1)[1].strip().splitlines()
    assert [line.split()[0] for line in listed] == ["bundle", "convert", "evaluate", "profile", "run",
                                                    "train"]
    assert not any(line.rstrip().endswith("...") for line in listed), "a summary is cut off"


def test_missing_data_is_exit_2_without_traceback(tmp_path: Path) -> None:
    result = run("train", "--data", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_an_output_stride_other_than_32_or_16_is_refused(fer_root: Path) -> None:
    result = run("train", "--data", str(fer_root / "train"), "--output-stride", "8")
    assert result.exit_code == 2
    assert "8 is not one of 32, 16" in result.output and "Traceback" not in result.output


def test_unknown_class_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bored").mkdir()
    result = run("evaluate", "--model", str(tmp_path / "bored"), "--data", str(tmp_path))
    assert result.exit_code == 2


def test_foreign_model_file_is_one_line_error(tmp_path: Path, fer_root: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"\x00" * 10)
    result = run("evaluate", "--model", str(bogus), "--data", str(fer_root / "test"),
                 "--limit", "20")
    assert result.exit_code == 2
    assert "edge-fer: error:" in result.output and "model.onnx" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_evaluate_prints_table_and_writes_json_and_png(tiny_model: Path, fer_root: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    result = run("evaluate", "--model", str(tiny_model), "--data", str(fer_root / "test"),
                 "--limit", "140", "--json", str(out))
    assert result.exit_code == 0
    assert "macro avg" in result.output and "confusion matrix" in result.output
    metrics = json.loads(out.read_text())
    for key in ("n", "accuracy", "macro_f1", "micro_f1", "weighted_f1", "per_class",
                "confusion_matrix"):
        assert key in metrics
    assert metrics["n"] == 140
    cm = metrics["confusion_matrix"]
    assert len(cm) == 7 and sum(map(sum, cm)) == 140
    assert out.with_suffix(".png").exists()


@pytest.mark.slow
def test_evaluate_records_the_tta_it_ran_with(tiny_model: Path, fer_root: Path,
                                              tmp_path: Path) -> None:
    outputs = {}
    for tta in ("model", "none", "flip"):
        out = tmp_path / f"{tta}.json"
        result = run("evaluate", "--model", str(tiny_model), "--data", str(fer_root / "test"),
                     "--limit", "70", "--tta", tta, "--json", str(out))
        assert result.exit_code == 0
        outputs[tta] = json.loads(out.read_text())
        expected = "none" if tta == "model" else tta  # the tiny model's card names none
        assert outputs[tta]["tta"] == expected and f"tta {expected})" in result.output
    assert outputs["model"]["confusion_matrix"] == outputs["none"]["confusion_matrix"]
    assert run("evaluate", "--model", str(tiny_model), "--data", str(fer_root / "test"),
               "--tta", "mirror").exit_code == 2


@pytest.mark.slow
def test_train_command_end_to_end(fer_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run("train", "--data", str(fer_root / "train"), "--out", str(out), "--epochs", "1",
                 "--limit", "120", "--resolution", "32", "--batch-size", "32",
                 "--warmup-epochs", "0")
    assert result.exit_code == 0
    assert "epoch 1/1" in result.output and "val_f1" in result.output
    assert (out / "model.keras").exists() and (out / "model.card.json").exists()
    again = run("train", "--data", str(fer_root / "train"), "--out", str(out), "--epochs", "1",
                "--limit", "120", "--resolution", "32")
    assert again.exit_code == 2 and "--resume" in again.output


def test_evaluate_reports_progress_when_asked(fer_root: Path, tmp_path: Path) -> None:
    """The shipped (TFLite) model on 20 faces: --progress writes lines on stderr, else nothing."""
    args = ("evaluate", "--data", str(fer_root / "test"), "--limit", "20", "--png",
            str(tmp_path / "c.png"))
    told = run(*args, "--progress")
    assert told.exit_code == 0
    assert "evaluated 20/20 faces" in told.stderr and "evaluated" not in told.stdout
    quiet = run(*args)
    assert quiet.exit_code == 0 and "evaluated" not in quiet.output


def test_evaluate_on_a_whole_fer2013_csv_says_it_reads_the_training_rows_too(
        fer_root: Path, tmp_path: Path) -> None:
    import cv2

    face = cv2.imread(str(next((fer_root / "test" / "happy").glob("*.png"))), cv2.IMREAD_GRAYSCALE)
    pixels = " ".join(map(str, face.ravel()))
    csv_file = tmp_path / "fer2013.csv"
    csv_file.write_text(f"emotion,pixels,Usage\n3,{pixels},Training\n3,{pixels},PrivateTest\n")
    whole = run("evaluate", "--data", str(csv_file))
    assert whole.exit_code == 0 and "(2 faces)" in whole.stdout
    assert f"note: {csv_file}: every row, the Training ones included" in whole.stderr
    split = run("evaluate", "--data", str(csv_file), "--usage", "PrivateTest")
    assert split.exit_code == 0 and "[PrivateTest] (1 faces)" in split.stdout
    assert "note:" not in split.stderr


@pytest.mark.parametrize("text, problem", [("640x", "is not WIDTHxHEIGHT"), ("8x480", "too small"),
                                           ("100000x480", r"too large \(at most 16384 px")])
def test_a_frame_size_is_refused_outside_what_a_camera_gives(text: str, problem: str) -> None:
    import click

    from edge_fer.options import parse_size

    assert parse_size("640x480", "--camera-size") == (640, 480)
    with pytest.raises(click.BadParameter, match=problem):
        parse_size(text, "--camera-size")
