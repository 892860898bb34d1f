"""The CLI never loses data and says what it does (issues 14 and 16): output safety, interrupts,
conflicting options, size limits, floating-point notes, --version, help and README statements."""
from __future__ import annotations

import json
import os
import re
import sys

import numpy as np
import pytest
from helpers import random_prompt, run_cli, save_prompt

import verify
import verify.cli as cli
from verify.limits import MAX_DERIVE_SIDE, MAX_DERIVE_SIDE_SYMBOLIC, MAX_LAYERS, MAX_TEXT_CHARS
from verify.masks import attention_mask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def prompt(tmp_path):
    return save_prompt(tmp_path / "p.npz", *random_prompt(np.random.default_rng(0), 6, 2, m=2))


@pytest.fixture
def fake_theorems(monkeypatch):
    """One instant theorem instead of the registry (prove, blueprint and report run in milliseconds)."""
    from proofs import registry
    from proofs.registry import Result, Theorem

    fake = [Theorem("T0", "fake", "a statement", "x", (), lambda setup: Result("proved", "n = 1 (fake)"))]
    monkeypatch.setattr(registry, "theorems", lambda: fake)


def listing(root):
    """Every file below ``root`` with its bytes (a changed, new or temporary file shows up)."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in files + dirs:
            path = os.path.join(base, name)
            out[os.path.relpath(path, root)] = open(path, "rb").read() if os.path.isfile(path) else None
    return out


def refused(capsys, tmp_path, *argv, field=None):
    """Run ``argv``; assert exit 2, one line naming ``field``, and nothing below ``tmp_path`` changed."""
    before = listing(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    if field:
        assert f"error: {field}:" in err, err
    assert listing(tmp_path) == before
    return err


# ----------------------------------------------------------------------------- output safety


def bad_output(kind, tmp_path, source):
    """A hostile output path of ``kind`` (``source`` is an input file of the command)."""
    if kind == "input":
        return source
    if kind == "symlink":
        os.symlink(source, tmp_path / "link.json")
        return tmp_path / "link.json"
    if kind == "hardlink":
        os.link(source, tmp_path / "hard.json")
        return tmp_path / "hard.json"
    if kind == "directory":
        return tmp_path
    if kind == "unwritable":
        return "/proc/icl-verify-test/out.json"
    if kind == "missing_parent":
        return tmp_path / "missing" / "out.json"
    if kind == "file_as_parent":
        (tmp_path / "plain").write_text("x")
        return tmp_path / "plain" / "out.json"
    if kind == "device":
        return os.devnull
    if kind == "read_only":
        path = tmp_path / "ro.json"
        path.write_text("keep")
        path.chmod(0o444)
        return path
    raise AssertionError(kind)


KINDS = ["input", "symlink", "hardlink", "directory", "unwritable", "missing_parent", "file_as_parent", "device",
         "read_only"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["stationary", "simulate", "rate"])
def test_json_output_that_would_lose_data_is_refused(capsys, tmp_path, prompt, command, kind, monkeypatch):
    import verify.commands.common as common

    monkeypatch.setattr(common, "load_prompt", lambda path: pytest.fail("computed before checking the output"))
    target = bad_output(kind, tmp_path, prompt)
    eta = [] if command == "stationary" else ["--eta", "0.1"]
    refused(capsys, tmp_path, command, prompt, *eta, "--json", target, field="json")


@pytest.mark.parametrize("kind", ["input", "symlink", "hardlink", "directory", "missing_parent", "read_only"])
@pytest.mark.parametrize("option", ["--w0", "--attention-mask", "--preconditioner"])
def test_every_input_file_is_protected(capsys, tmp_path, prompt, option, kind):
    values = {"--w0": np.zeros(2), "--attention-mask": attention_mask("causal", 6, 2),
              "--preconditioner": np.eye(2)}
    np.save(tmp_path / "f.npy", values[option])
    target = bad_output(kind, tmp_path, str(tmp_path / "f.npy"))
    refused(capsys, tmp_path, "rate", prompt, option, tmp_path / "f.npy", "--eta", "0.1", "--json", target,
            field="json")


@pytest.mark.parametrize("kind", ["input", "symlink", "directory", "missing_parent"])
def test_derive_matrix_files_are_protected(capsys, tmp_path, kind):
    kq = tmp_path / "kq.json"
    kq.write_text("[[1, 0], [0, 0]]")
    refused(capsys, tmp_path, "derive", "--kq", kq, "--pv", "[[0, 0], [0, -1]]", "--json",
            bad_output(kind, tmp_path, str(kq)), field="json")


@pytest.mark.parametrize("kind", ["directory", "missing_parent", "file_as_parent", "device", "read_only", "unwritable"])
def test_own_outputs_of_writing_commands_are_checked(capsys, tmp_path, kind, fake_theorems):
    target = bad_output(kind, tmp_path, None)
    refused(capsys, tmp_path, "example-prompt", target, field="OUT")
    refused(capsys, tmp_path, "blueprint", "--out", target, "--no-progress", field="out")
    refused(capsys, tmp_path, "prove", "--no-progress", "--json", target, field="json")


def test_two_outputs_on_one_path_are_refused(capsys, tmp_path, fake_theorems):
    refused(capsys, tmp_path, "example-prompt", tmp_path / "p.npz", "--json", tmp_path / "p.npz", field="json")
    refused(capsys, tmp_path, "blueprint", "--out", tmp_path / "b.md", "--json", tmp_path / "b.md", field="json")
    out = tmp_path / "res"
    refused(capsys, tmp_path, "figures", "--out", out, "--json", out / "timings.json", "--tasks", "1", field="json")
    refused(capsys, tmp_path, "report", "--out", out, "--json", out / "report.md", "--tasks", "1", field="json")


def test_figures_refuses_a_file_as_directory_and_creates_nothing_on_error(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    refused(capsys, tmp_path, "figures", "--out", tmp_path / "file", "--tasks", "1", field="out")
    refused(capsys, tmp_path, "figures", "--out", tmp_path / "new" / "dir", "--tasks", "0", field="tasks")
    assert not (tmp_path / "new").exists()  # the directory is created only when there is something to write


def test_a_good_output_is_replaced_whole_and_keeps_its_permissions(capsys, tmp_path, prompt):
    target = tmp_path / "out.json"
    target.write_text("old")
    target.chmod(0o640)
    code, _, err = run_cli(capsys, "stationary", prompt, "--json", target)
    assert code == 0, err
    assert json.loads(target.read_text())["attention"] == "prefix"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["out.json", "p.npz"]


# ----------------------------------------------------------------------------- links and streams as outputs


def assert_written_through(link, target, before_link):
    """``link`` is still the same link and ``target`` (its final target) holds a new regular file."""
    assert os.path.islink(link), f"{link} was replaced by a regular file"
    assert os.readlink(link) == before_link
    assert os.path.isfile(target) and os.path.getsize(target) > 0
    for folder in {os.path.dirname(str(link)), os.path.dirname(str(target))}:
        assert not [f for f in os.listdir(folder) if ".tmp" in f], "a temporary file was left"


def link_outputs(tmp_path, prompt):
    """(argv with LINK for the output, how to check the target's content) for each kind of writer."""
    return [
        (["stationary", prompt, "--json", "LINK"], lambda path: json.load(open(path))["attention"] == "prefix"),
        (["example-prompt", "LINK"], lambda path: set(np.load(path).files) == {"X", "y", "Xq", "yq"}),
        (["blueprint", "--no-progress", "--out", "LINK"], lambda path: open(path).read().startswith("# Blueprint")),
    ]


@pytest.mark.parametrize("dangling", [False, True])
@pytest.mark.parametrize("case", range(3))
def test_an_output_link_is_written_through_and_stays_a_link(capsys, tmp_path, prompt, fake_theorems, case,
                                                           dangling):
    argv, good = link_outputs(tmp_path, prompt)[case]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "target.out"
    if not dangling:
        target.write_text("old")
        target.chmod(0o640)
    link = tmp_path / "link.out"
    os.symlink(os.path.relpath(target, tmp_path), link)  # a relative link: resolved from the link's directory
    code, _, err = run_cli(capsys, *[link if a == "LINK" else a for a in argv])
    assert code == 0, err
    assert_written_through(link, target, os.path.relpath(target, tmp_path))
    assert good(target)
    if not dangling:
        assert target.stat().st_mode & 0o777 == 0o640


def test_a_chain_of_links_is_written_through_to_the_last_target(capsys, tmp_path, prompt):
    target = tmp_path / "t.json"
    os.symlink(target, tmp_path / "b.json")
    os.symlink(tmp_path / "b.json", tmp_path / "a.json")
    code, _, err = run_cli(capsys, "stationary", prompt, "--json", tmp_path / "a.json")
    assert code == 0, err
    assert os.path.islink(tmp_path / "a.json") and os.path.islink(tmp_path / "b.json")
    assert json.load(open(target))["attention"] == "prefix"


def test_link_test_catches_a_writer_that_replaces_the_link(capsys, tmp_path, prompt, monkeypatch):
    """Mutation check: the old writer (rename over the link itself) fails :func:`assert_written_through`."""
    import verify.output as output

    monkeypatch.setattr(output, "write_target", os.fspath)
    target = tmp_path / "target.json"
    target.write_text("old")
    os.symlink(target, tmp_path / "link.json")
    code, _, err = run_cli(capsys, "stationary", prompt, "--json", tmp_path / "link.json")
    assert code == 0, err
    with pytest.raises(AssertionError):
        assert_written_through(tmp_path / "link.json", target, str(target))


@pytest.mark.parametrize("kind", ["missing_directory", "directory", "device", "loop", "stdout", "proc", "input"])
def test_an_output_link_that_cannot_be_written_through_is_refused(capsys, tmp_path, prompt, kind):
    link = tmp_path / "link.json"
    if kind == "loop":
        os.symlink(tmp_path / "other.json", link)
        os.symlink(link, tmp_path / "other.json")
    else:
        os.symlink({"missing_directory": str(tmp_path / "missing" / "t.json"), "directory": str(tmp_path),
                    "device": os.devnull, "stdout": "/dev/stdout", "proc": "/proc/self/comm",
                    "input": prompt}[kind], link)
    refused(capsys, tmp_path, "stationary", prompt, "--json", link, field="json")
    assert os.path.islink(link)


@pytest.mark.parametrize("name, stream", [("-", "out"), ("/dev/stdout", "out"), ("/dev/stderr", "err")])
def test_stream_names_write_to_the_stream(capsys, prompt, name, stream):
    before = os.readlink("/dev/stdout"), os.readlink("/dev/stderr")
    code, out, err = run_cli(capsys, "stationary", prompt, "--json", name)
    assert code == 0, err
    assert json.loads({"out": out, "err": err}[stream])["attention"] == "prefix"
    assert (os.readlink("/dev/stdout"), os.readlink("/dev/stderr")) == before


def test_example_prompt_to_stdout_is_the_npz_bytes(tmp_path):
    """Through a real interpreter: ``example-prompt - > file`` gives a prompt the other commands read."""
    import subprocess

    env = dict(os.environ, PYTHONPATH=ROOT)
    with open(tmp_path / "p.npz", "wb") as fh:
        run = subprocess.run([sys.executable, "-m", "verify", "example-prompt", "-", "--n", "5"], stdout=fh,
                             stderr=subprocess.PIPE, env=env)
    assert run.returncode == 0 and run.stderr == b""
    assert np.load(tmp_path / "p.npz")["X"].shape == (5, 3)
    assert os.listdir(tmp_path) == ["p.npz"]


# ----------------------------------------------------------------------------- interrupts


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def interrupted(capsys, tmp_path, *argv):
    before = listing(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 130 and err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err, err
    return before, listing(tmp_path)


def test_ctrl_c_during_a_computation_exits_130_and_writes_nothing(capsys, tmp_path, prompt, monkeypatch):
    import verify.lsa as lsa

    monkeypatch.setattr(lsa, "lsa_layer", interrupt)  # simulate looks the layer up when it runs
    before, after = interrupted(capsys, tmp_path, "simulate", prompt, "--eta", "0.1", "--json", tmp_path / "o.json")
    assert before == after


def test_ctrl_c_while_writing_keeps_the_old_file_and_leaves_no_temporary(capsys, tmp_path, prompt, monkeypatch):
    import verify.output as output

    target = tmp_path / "o.json"
    target.write_text("precious")
    monkeypatch.setattr(output.os, "replace", interrupt)
    before, after = interrupted(capsys, tmp_path, "stationary", prompt, "--json", target)
    assert before == after and target.read_text() == "precious"


def test_ctrl_c_in_example_prompt_and_figures_leaves_no_partial_file(capsys, tmp_path, monkeypatch):
    import verify.commands.example_prompt as example
    import verify.commands.figures as figures

    def half_then_interrupt(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(example.np, "savez", half_then_interrupt)
    before, after = interrupted(capsys, tmp_path, "example-prompt", tmp_path / "p.npz")
    assert before == after
    monkeypatch.setattr(figures, "e2_stationary", interrupt)
    before, after = interrupted(capsys, tmp_path, "figures", "--out", tmp_path / "figs", "--tasks", "1",
                                "--no-progress")
    assert before == after


def test_interrupt_test_catches_a_writer_that_is_not_atomic(capsys, tmp_path, prompt, monkeypatch):
    """Mutation check: writing straight into the target, interrupted halfway, is seen as a change."""
    def direct(result, target):
        with open(target, "w") as fh:
            fh.write('{"half": ')
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "write_json", direct)
    before, after = interrupted(capsys, tmp_path, "stationary", prompt, "--json", tmp_path / "o.json")
    assert before != after


# ----------------------------------------------------------------------------- conflicts and limits


@pytest.mark.parametrize("argv, field", [
    (["rate", "P", "--eta", "0.1", "--normalization", "count", "--scale", "5"], "scale"),
    (["rate", "P", "--eta", "0.1", "--normalization", "count", "--scale", "1"], "scale"),
    (["stationary", "P", "--attention", "bogus", "--attention-mask", "M"], "attention"),
    (["stationary", "P", "--attention", "prefix", "--attention-mask", "M"], "attention"),
    (["simulate", "P", "--eta", "0.1", "--eta-schedule", "0.1,0.2"], "eta"),
    (["simulate", "P", "--eta-schedule", "0.1,0.2", "--layers", "3"], "eta-schedule"),
    (["simulate", "P", "--eta", "0.1", "--layers", str(MAX_LAYERS + 1)], "layers"),
    (["rate", "P", "--eta", "0.1", "--layers", str(MAX_LAYERS + 1)], "layers"),
    (["simulate", "BIG", "--eta", "0.1", "--layers", str(MAX_LAYERS)], "layers"),  # states beyond 2 GiB
    (["simulate", "P", "--eta-schedule", ",".join(["0.1"] * (MAX_TEXT_CHARS // 4 + 1))], "eta-schedule"),
    (["stationary", "P", "--attention", "sliding:99999999999999999999"], "attention"),
    (["example-prompt", "OUT", "--n", "1000000000", "--d", "1000"], "n"),
    (["example-prompt", "OUT", "--seed", "-1"], "seed"),
    (["example-prompt", "OUT", "--noise", "nan"], "noise"),
    (["example-prompt", "-", "--json", "/dev/stdout"], "json"),  # two outputs on one stream
    (["figures", "--out", "OUT", "--tasks", "100000000"], "tasks"),
])
def test_conflicting_options_and_impossible_sizes_are_refused(capsys, tmp_path, prompt, argv, field):
    np.save(tmp_path / "m.npy", attention_mask("causal", 6, 2))
    big = save_prompt(tmp_path / "big.npz", *random_prompt(np.random.default_rng(2), 300, 2, m=2))
    names = {"P": prompt, "BIG": big, "M": str(tmp_path / "m.npy"), "OUT": str(tmp_path / "out.npz")}
    err = refused(capsys, tmp_path, *[names.get(a, a) for a in argv], field=field)
    assert len(err) < 400


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, KQ=np.eye(5)[None], PV=-np.eye(5)[None])
    return str(path)


#: requests whose memory or work the machine cannot give, with the option each refusal must name
OVERSIZED = [
    (["train", "--layers", "1000000", "--out", "OUT"], "layers"),
    (["train", "--d", "100000", "--n", "100000", "--out", "OUT"], "d"),
    (["train", "--steps", "1000000000", "--out", "OUT"], "steps"),
    (["train", "--batch", "100000000", "--out", "OUT"], "batch"),
    (["train", "--layers", "200", "--out", "OUT"], "layers"),  # compiles, but would run for about an hour
    (["derive", "--fit", "W", "--prompts", "1000000000"], "prompts"),
    (["derive", "--fit", "W", "--n", "100000000"], "n"),
    (["derive", "--fit", "W", "--n", "100000"], "n"),  # (n x n) scores of one prompt: hundreds of GiB
    (["figures", "--out", "DIR", "--tasks", "5000"], "tasks"),
    (["figures", "--out", "DIR", "--max-n", "100000"], "max-n"),
    (["figures", "--out", "DIR", "--train", "--train-steps", "1000000000"], "train-steps"),
    (["report", "--out", "DIR", "--train-steps", "1000000000"], "train-steps"),
    (["simulate", "P", "--eta", "0.01", "--layers", "1000000"], "layers"),  # ~1 ms per layer: about 20 minutes
    (["prove", "--attention", "causal", "--scale", "1e400"], "scale"),
    (["prove", "--attention", "causal", "--scale", "1e-400"], "scale"),
    (["prove", "--attention", "causal", "--scale", "1e308"], "scale"),
    (["prove", "--attention", "causal", "--scale", "1e309"], "scale"),
    (["rate", "P", "--eta", "0.1", "--scale", "1e-320"], "scale"),
]


def _no_work(monkeypatch):
    """Every expensive entry point fails the test: a refusal must come before any of them."""
    import verify.commands.figures as figures
    import verify.commands.report as report
    import verify.commands.simulate as simulate
    import verify.fit as fit
    import verify.train as train

    def computed(*args, **kwargs):
        pytest.fail("the run started before the limit refused it")

    for module, name in ((train, "train"), (fit, "fit_stack"), (figures, "make_figures"), (report, "run_theorems"),
                         (simulate, "simulate")):
        monkeypatch.setattr(module, name, computed)


@pytest.mark.parametrize("argv, field", OVERSIZED)
def test_requests_beyond_the_machine_are_refused_up_front(capsys, tmp_path, prompt, weights, monkeypatch, argv,
                                                         field):
    _no_work(monkeypatch)
    names = {"P": prompt, "W": weights, "OUT": str(tmp_path / "out.npz"), "DIR": str(tmp_path / "res")}
    extra = ["--no-progress"] if argv[0] in ("train", "figures", "report", "prove") else ["--json", "-"]
    err = refused(capsys, tmp_path, *[names.get(a, a) for a in argv], *extra, field=field)
    assert "limit" in err or "exponent" in err or "normal float64" in err, err


def test_limit_test_catches_a_missing_limit(capsys, tmp_path, weights, monkeypatch):
    """Mutation check: with the budget check admitting everything, the oversized run reaches the computation."""
    import verify.commands.derive as derive
    import verify.limits as limits

    _no_work(monkeypatch)
    monkeypatch.setattr(derive, "check_budget", lambda *args, **kwargs: None)
    with pytest.raises(pytest.fail.Exception):
        run_cli(capsys, "derive", "--fit", weights, "--prompts", "1000000000")
    monkeypatch.setattr(limits, "check_budget", lambda *args, **kwargs: None)
    with pytest.raises(pytest.fail.Exception):
        # (not --layers: beyond verify.train.MAX_LAYERS the stability cap refuses it before training)
        run_cli(capsys, "train", "--steps", "1000000000", "--out", tmp_path / "w.npz", "--no-progress")


def test_the_defaults_are_within_the_budget():
    """What the README runs is admitted: train's and E4's defaults, figures and report at their defaults."""
    from verify import limits
    from verify.commands.figures import run_cost

    memory, work = limits.training_cost(4, 1, 20, 8, 1, 64, 2000)
    assert memory < limits.MAX_MEMORY_BYTES and work < limits.MAX_WORK / 10
    memory, work = run_cost(64, 300, 2000)
    assert memory < limits.MAX_MEMORY_BYTES and work < limits.MAX_WORK / 2
    memory, work = limits.stack_gap_cost(64, 20, 8, 4, 1, 4)
    assert memory < limits.MAX_MEMORY_BYTES and work < limits.MAX_WORK / 100


def test_a_memory_error_is_a_refusal_with_the_figure(capsys, prompt, monkeypatch):
    import verify.commands.stationary as stationary

    def allocate(*args, **kwargs):
        raise MemoryError("Unable to allocate 596. GiB for an array with shape (1000000000, 20, 4)")

    monkeypatch.setattr(stationary, "stationary", allocate)
    code, _, err = run_cli(capsys, "stationary", prompt)
    assert code == 2 and err.count("\n") == 1 and "596. GiB" in err and "internal error" not in err


def test_consistent_eta_and_schedule_are_accepted(capsys, prompt):
    code, _, err = run_cli(capsys, "simulate", prompt, "--eta", "0.1", "--eta-schedule", "0.1,0.1", "--layers", "2")
    assert code == 0, err


def test_example_prompt_writes_exactly_the_path_it_reports(capsys, tmp_path):
    (tmp_path / "d").mkdir()
    refused(capsys, tmp_path, "example-prompt", tmp_path / "d", field="OUT")
    assert not (tmp_path / "d.npz").exists()
    code, out, _ = run_cli(capsys, "example-prompt", tmp_path / "noext", "--json", "-")
    assert code == 0 and json.loads(out)["path"] == str(tmp_path / "noext")
    assert sorted(os.listdir(tmp_path)) == ["d", "noext"]
    code, out, _ = run_cli(capsys, "stationary", tmp_path / "noext")
    assert code == 0


def test_deep_json_and_large_matrices_are_one_line(capsys, tmp_path):
    deep = "[" * 5000 + "]" * 5000
    refused(capsys, tmp_path, "derive", "--kq", deep, "--pv", "[[0, 0], [0, 1]]", field="kq")
    (tmp_path / "deep.json").write_text(deep)
    refused(capsys, tmp_path, "derive", "--kq", tmp_path / "deep.json", "--pv", "[[0, 0], [0, 1]]", field="kq")
    side = MAX_DERIVE_SIDE + 1
    big = json.dumps(np.eye(side, dtype=int).tolist())
    refused(capsys, tmp_path, "derive", "--kq", big, "--pv", big, field="kq")
    named = json.dumps([["eta" if i == j else 0 for j in range(MAX_DERIVE_SIDE_SYMBOLIC + 1)]
                        for i in range(MAX_DERIVE_SIDE_SYMBOLIC + 1)])
    refused(capsys, tmp_path, "derive", "--kq", named, "--pv", named, field="kq")
    refused(capsys, tmp_path, "derive", "--kq", "/dev/zero", "--pv", "[[0, 0], [0, 1]]", field="kq")


def test_guard_counts_brackets_outside_strings_only():
    from verify.errors import PromptError
    from verify.matrix_text import guard_text

    assert guard_text('[["((((", "[[[["]]', "kq", max_depth=2)
    with pytest.raises(PromptError, match="^rule: brackets nested more than 3 deep"):
        guard_text("a(b(c(d(e))))", "rule", max_depth=3)
    with pytest.raises(PromptError, match="^rule: text of 11 characters"):
        guard_text("x" * 11, "rule", max_chars=10)


# ----------------------------------------------------------------------------- what the CLI says


def test_floating_point_overflow_is_one_note_not_raw_warnings(capsys, prompt):
    code, out, err = run_cli(capsys, "simulate", prompt, "--eta", "1e308", "--layers", "5")
    assert code == 0 and err == "" and out.count("note: floating-point") == 1 and "RuntimeWarning" not in out
    code, out, err = run_cli(capsys, "simulate", prompt, "--eta", "1e308", "--layers", "5", "--json", "-")
    assert code == 0 and err.count("\n") == 1 and "note: floating-point overflow" in err
    assert None in json.loads(out)["query_predictions"][-1]  # overflowed values are null


def test_a_bug_is_one_line_with_status_70(capsys, prompt, monkeypatch):
    import verify.commands.stationary as stationary

    monkeypatch.setattr(stationary, "stationary", lambda *a, **k: {}["missing"])
    code, _, err = run_cli(capsys, "stationary", prompt)
    assert code == 70 and err.count("\n") == 1 and "internal error (KeyError" in err


def test_an_answer_that_cannot_be_computed_is_refused(capsys, prompt, monkeypatch):
    import verify.commands.stationary as stationary

    def diverge(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(stationary, "stationary", diverge)
    code, _, err = run_cli(capsys, "stationary", prompt)
    assert code == 2 and err.count("\n") == 1 and "cannot compute" in err


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"icl-verify {verify.__version__}"
    with open(os.path.join(ROOT, "pyproject.toml")) as fh:
        declared = re.search(r'^version = "([^"]+)"', fh.read(), re.M).group(1)
    assert verify.__version__ == declared == cli.version()


def test_version_prefers_the_installed_distribution(monkeypatch):
    from importlib import metadata

    class Dist:
        version = "9.9.9"

        @staticmethod
        def locate_file(name):
            return os.path.join(os.path.dirname(os.path.dirname(verify.__file__)), name)

    monkeypatch.setattr(metadata, "distribution", lambda name: Dist)
    assert cli.version() == "9.9.9"
    Dist.locate_file = staticmethod(lambda name: "/elsewhere/" + name)  # another copy is installed
    assert cli.version() == verify.__version__


def test_every_option_says_whether_it_is_required():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        for action in sub._actions:
            if action.dest == "help" or action.help == "==SUPPRESS==":
                continue
            required = action.required and action.nargs not in ("*", "?")  # argparse marks "*" required
            assert action.help.startswith("required" if required else ("optional", "required")), (name, action.dest)
    eta = {name: next(a for a in commands[name]._actions if a.dest == "eta").help for name in ("rate", "simulate")}
    assert eta["rate"].startswith("required:") and eta["simulate"].startswith("required unless --eta-schedule")


def test_blueprint_defaults_to_the_current_directory(capsys, tmp_path, monkeypatch, fake_theorems):
    from verify.commands import blueprint

    committed = blueprint.package_readme()
    stamp = os.stat(committed).st_mtime_ns
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "blueprint", "--no-progress")
    assert code == 0, err
    assert (tmp_path / "blueprint.md").read_text().startswith("# Blueprint")
    assert os.stat(committed).st_mtime_ns == stamp  # the package's copy is untouched


def test_prove_help_explains_every_status(capsys):
    from proofs.registry import STATUSES

    code, out, _ = run_cli(capsys, "prove", "--help")
    assert code == 0
    for status in STATUSES:  # each on its own line with a meaning after it
        assert re.search(rf"^  {status} +\S.*$", out, re.M), status


def test_block_and_hybrid_are_explained_in_help_and_readme(capsys):
    row = next(line for line in README.splitlines() if line.startswith("| `--attention prefix"))
    for name in ("stationary", "simulate", "rate", "prove", "derive"):
        code, out, _ = run_cli(capsys, name, "--help")
        text = " ".join(out.split())
        assert "block:B (full inside consecutive blocks of B examples" in text, name
        assert "hybrid:P (the first P examples read each other in full" in text, name
    assert "full inside a block and causal across blocks (`block:B`)" in row
    assert "the first `P` examples read each other in full and later ones are causal (`hybrid:P`)" in row
    # what the words say is the code: block:2 and hybrid:2 on n = 5
    block, hybrid = attention_mask("block:2", 5, 0), attention_mask("hybrid:2", 5, 0)
    assert block[1, 0] and block[0, 1] and not block[2, 1] and block[1, 2]  # full in {0, 1}, causal across
    assert hybrid[1, 0] and hybrid[0, 1] and not hybrid[3, 2] and hybrid[2, 3]


@pytest.mark.parametrize("argv, blamed, words", [
    (["rate", "P", "--eta", "0.1", "--scale", "1e-320"], "scale", "smallest normal float64"),
    (["derive", "--kq", "EYE7", "--pv", "NAMED7"], "pv", "holding names"),  # a 7 x 7 pv with names blames pv
    (["derive", "--kq", "NAMED7", "--pv", "EYE7"], "kq", "holding names"),
    (["derive", "--kq", "LONG", "--pv", "[[0, 0], [0, 1]]"], "kq", "5000 digits"),
    (["stationary", "P", "--attention-mask", "PICKLED"], "attention-mask", "as a boolean array"),
    (["stationary", "P", "--w0", "PICKLED"], "w0", "as a float array"),
    (["prove", "--attention", "causal", "--scale", "1e400"], "scale", "exponent 400"),
    (["rate", "P", "--eta", "1e-400"], None, "'1e-400' rounds to 0 in float64"),  # not "must be > 0, got 0.0"
    (["rate", "P", "--eta", "1e400"], None, "'1e400' is beyond float64's range"),
    (["stationary", "P", "--scale", "1e-400"], None, "'1e-400' rounds to 0 in float64"),
])
def test_hints_blame_the_right_thing(capsys, tmp_path, prompt, argv, blamed, words):
    named = [["eta" if i == j else 0 for j in range(7)] for i in range(7)]
    eye = [[int(i == j) for j in range(7)] for i in range(7)]
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}] * 64, dtype=object).reshape(8, 8), allow_pickle=True)
    names = {"P": prompt, "PICKLED": str(tmp_path / "pickled.npy"), "NAMED7": json.dumps(named),
             "EYE7": json.dumps(eye), "LONG": f"[[{'7' * 5000}, 0], [0, 1]]"}
    err = refused(capsys, tmp_path, *[names.get(a, a) for a in argv], field=blamed)
    assert words in err, err


# ----------------------------------------------------------------------------- README statements


README = open(os.path.join(ROOT, "README.md")).read()


def test_readme_sliding_rule_is_the_code():
    row = next(line for line in README.splitlines() if line.startswith("| `--attention prefix"))
    assert "under `sliding:K`, only the last `K`" in row
    n, m = 7, 2
    for K in (1, 3, 7, 10):
        mask = attention_mask(f"sliding:{K}", n, m)
        for q in range(n, n + m):
            assert set(np.flatnonzero(mask[:, q])) == set(range(max(n - K, 0), n))


def test_readme_every_command_takes_json_and_is_documented(capsys):
    assert "Every command takes `--json OUT`" in README
    for name in cli.COMMANDS:
        code, out, _ = run_cli(capsys, name, "--help")
        assert code == 0 and "--json" in out, name
        assert f"icl-verify {name}" in README, name


def test_readme_exit_statuses_and_limits_are_the_code():
    from verify import limits

    for status in (cli.EXIT_BAD_INPUT, cli.EXIT_INTERRUPTED, cli.EXIT_INTERNAL):
        assert re.search(rf"\b{status} (refused input|interrupted|an internal error)", README), status
    assert f"{limits.MAX_LAYERS:,} layers" in README and f"{limits.MAX_TEXT_CHARS:,} characters" in README
    assert f"{limits.MAX_ARRAY_BYTES // 2 ** 30} GiB per array" in README
    assert f"above {limits.MAX_MEMORY_BYTES // 2 ** 30} GiB" in README
    assert f"above {limits.MAX_WORK:.0e} operations" in README
    assert f"up to {limits.MAX_DERIVE_SIDE} x {limits.MAX_DERIVE_SIDE}" in README
    side = limits.MAX_DERIVE_SIDE_SYMBOLIC
    assert f"{side} x {side}. Larger matrices" in README


def test_console_entry_point_prints_one_line_on_interrupt_free_errors(tmp_path):
    """Through a real interpreter: a refused output is one line, no traceback."""
    import subprocess

    path = save_prompt(tmp_path / "p.npz", *random_prompt(np.random.default_rng(1), 4, 2))
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, "-m", "verify", "stationary", path, "--json", path],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "input file" in run.stderr


def test_a_real_ctrl_c_exits_130_with_one_line_and_no_files(tmp_path):
    """SIGINT to a running ``icl-verify report`` (the theorems alone run for several seconds)."""
    import signal
    import subprocess
    import time

    env = dict(os.environ, PYTHONPATH=ROOT)
    out = tmp_path / "figs"
    # a background job (CI, `cmd &`) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt
    # handler: give the child the default disposition, as a terminal's Ctrl-C would find it
    proc = subprocess.Popen([sys.executable, "-m", "verify", "report", "--out", str(out), "--skip-train",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3)  # imports done, theorems running
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err
    assert not out.exists()


def test_a_fifo_as_input_is_refused_without_reading_it(capsys, tmp_path, prompt):
    """Reading a FIFO would block forever: every file input is refused when it is not a regular file."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(capsys, tmp_path, "stationary", fifo, field="PROMPT")
    for option in ("--w0", "--attention-mask", "--preconditioner"):
        refused(capsys, tmp_path, "stationary", prompt, option, fifo, field=option.strip("-"))
    refused(capsys, tmp_path, "derive", "--kq", fifo, "--pv", "[[0, 0], [0, 1]]", field="kq")
    refused(capsys, tmp_path, "stationary", prompt, "--json", fifo, field="json")
