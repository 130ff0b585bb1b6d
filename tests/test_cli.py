"""The command line: help, one-sentence errors, and a real evaluate + train on faces."""
import subprocess
import sys


def run(*args, **env):
    import os

    return subprocess.run([sys.executable, "-m", "facelib", *args], capture_output=True, text=True,
                          env={**os.environ, **env})


def test_help_explains_every_option():
    out = run("train", "--help").stdout
    for option in ("--arch", "--epochs", "--batch-size", "--lr", "--seed", "--out", "--checkpoint-every"):
        assert option in out
    assert "--onnx" in run("evaluate", "--help").stdout


def one_sentence_error(result):
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.stderr
    return lines[0]


def test_errors_are_one_sentence(tmp_path):
    assert "unknown architecture" in one_sentence_error(run("train", "--arch", "vgg", "--out", str(tmp_path)))
    assert "does not exist" in one_sentence_error(run("evaluate", "--model", str(tmp_path / "none.pt")))
    (tmp_path / "corrupt.pt").write_bytes(b"\x00\x01")
    assert "not a readable" in one_sentence_error(run("evaluate", "--model", str(tmp_path / "corrupt.pt")))
    assert "unknown pairs set" in one_sentence_error(run("evaluate", "--onnx", "reference", "--pairs", "x"))
    assert "landmarks file" in one_sentence_error(
        run("evaluate", "--onnx", "reference", "--landmarks", str(tmp_path / "none.csv")))
    missing = one_sentence_error(run("evaluate", "--onnx", "reference", FACELIB_DATA=str(tmp_path / "empty"),
                                     FACELIB_OFFLINE="1"))
    assert "LFW not found" in missing


def test_train_then_evaluate_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    r = run("train", "--arch", "squeezenet", "--epochs", "1", "--batch-size", "32", "--max-identities", "8",
            "--use-lfw", "0", "--eval-pairs", "none", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "trained squeezenet for 1 epochs" in r.stdout
    r = run("evaluate", "--model", str(out / "model.pt"), "--pairs", "dev", "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert "(1000 pairs): EER" in r.stdout and (tmp_path / "r.json").is_file()


def test_study_runs_a_declared_run_and_records_it():
    """``study`` makes a run of facelib/study/runs.py as the notebooks do; a finished one returns at once."""
    assert "unknown recipe" in one_sentence_error(run("study", "recipe", "magic", FACELIB_PROFILE="fast"))
    assert "takes 2 name(s)" in one_sentence_error(run("study", "base", "squeezenet", FACELIB_PROFILE="fast"))
    assert "unknown base run" in one_sentence_error(run("study", "base", "vgg", "plain", FACELIB_PROFILE="fast"))
    first = run("study", "base", "squeezenet", "distill", FACELIB_PROFILE="fast")
    assert first.returncode == 0, first.stderr
    again = run("study", "base", "squeezenet", "distill", FACELIB_PROFILE="fast")
    assert again.returncode == 0 and again.stdout == first.stdout
    assert again.stdout.startswith("base squeezenet/distill: development EER ") and "larger set" in again.stdout
