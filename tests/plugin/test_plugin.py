"""The pytest plugin, driven through pytester (in-process and in subprocesses)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

GOOD = """\
[model]
name = "good"
family = "transformer"
layers = 2
d_model = 128
heads = 2
vocab = 1000
max_positions = 256

[train]
batch = 2
seq_len = 256

[budget]
max_n = 256
memory = "4 GiB"
span = 128
"""

# Line 14 is `bptt = 20` (counted by hand): ARC207 must point there.
BAD_BPTT = """\
[model]
name = "rnn"
family = "lstm"
layers = 1
d_model = 64
hidden = 64
vocab = 1000

[train]
batch = 2
seq_len = 20
dtype = "fp32"
optimizer = "sgd"
bptt = 20

[budget]
span = 100
memory = "1 GiB"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".archcheck.toml", good=GOOD)
    pytester.makefile(".archcheck.toml", rnn=BAD_BPTT)
    return pytester


def test_items_are_named_spec_model_check(project: pytest.Pytester) -> None:
    result = project.runpytest("--archcheck", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "good.archcheck.toml::good::config",
            "good.archcheck.toml::good::memory",
            "good.archcheck.toml::good::latency",
            "good.archcheck.toml::good::span",
            "good.archcheck.toml::good::pitfalls",
            "rnn.archcheck.toml::rnn::span",
        ]
    )


def test_outcomes_and_failure_text(project: pytest.Pytester) -> None:
    result = project.runpytest("--archcheck", "-rfs")
    # 2 specs x 5 concerns; only rnn::span (ARC207) fails; neither declares a latency budget,
    # so both latency items are skipped with the reason (never passed over nothing)
    result.assert_outcomes(passed=7, failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        ["SKIPPED * good.archcheck.toml:1: no latency budget: declare ?budget? p95_latency"]
    )
    result.stdout.fnmatch_lines(
        ["*rnn.archcheck.toml:14: ARC207 bptt 20 truncates gradients before span 100*"]
    )
    result.stdout.fnmatch_lines(["ARCHCHECK *rnn.archcheck.toml::rnn::span*"])
    assert "Traceback" not in result.stdout.str()
    assert "archcheck.py" not in result.stdout.str()


def test_verbose_failure_adds_fix_and_docs(project: pytest.Pytester) -> None:
    result = project.runpytest("--archcheck", "-v")
    result.stdout.fnmatch_lines(["*> bptt = 20", "*help: set bptt >= 100*", "*docs: *ARC207*"])


def test_not_collected_without_flag(project: pytest.Pytester) -> None:
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_ini_key_enables_collection(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\narchcheck = true\n")
    result = project.runpytest()
    result.assert_outcomes(passed=7, failed=1, skipped=2)


def test_report_header_and_summary_table(project: pytest.Pytester) -> None:
    result = project.runpytest("--archcheck")
    result.stdout.fnmatch_lines(["archcheck: collecting specs (static)"])
    result.stdout.fnmatch_lines(
        ["*archcheck headroom*", "*model*peak*memory budget*", "*good*4.00 GiB*"]
    )


def test_disabled_with_p_no(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:archcheck", "--archcheck")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --archcheck*"])


def test_strict_markers(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.archcheck(memory="1 GiB", span=16)
        def test_marked():
            pass
    """
    )
    result = project.runpytest("--strict-markers", "test_user.py")
    result.assert_outcomes(passed=1)


def test_no_cacheprovider(project: pytest.Pytester) -> None:
    result = project.runpytest("--archcheck", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7, failed=1, skipped=2)


def test_autoload_disabled_then_explicit_p(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = project.runpytest_subprocess("-p", "pytest_archcheck.plugin", "--archcheck")
    result.assert_outcomes(passed=7, failed=1, skipped=2)
    off = project.runpytest_subprocess("--archcheck")
    assert off.ret == pytest.ExitCode.USAGE_ERROR


def test_junit_properties(project: pytest.Pytester) -> None:
    project.runpytest("--archcheck", "--junitxml=out.xml")
    root = ET.parse(project.path / "out.xml").getroot()
    props = {}
    for case in root.iter("testcase"):
        if case.get("name") == "memory" and case.get("classname", "").endswith(".good"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["archcheck_model"] == "good"
    assert props["archcheck_memory_budget"] == str(4 * 1024**3)
    assert int(props["archcheck_total_bytes"]) > 0


def test_json_report(project: pytest.Pytester) -> None:
    project.runpytest("--archcheck", "--archcheck-json=report.json")
    doc = json.loads((project.path / "report.json").read_text())
    assert doc["schema_version"] == 1
    assert set(doc["models"]) == {"good", "rnn"}
    assert doc["models"]["good"]["memory_budget"] == 4 * 1024**3
    assert doc["models"]["rnn"]["span"] == 100
    assert {"cpu", "python", "torch", "commit"} <= set(doc["machine"])


def test_json_ini_key(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\narchcheck = true\narchcheck_json = r.json\n")
    project.runpytest()
    assert json.loads((project.path / "r.json").read_text())["models"]["good"]["max_n"] == 256


def test_baseline_missing_is_warning_then_regression_fails(project: pytest.Pytester) -> None:
    first = project.runpytest("--archcheck", "--archcheck-baseline=base.json", "-W", "default")
    first.assert_outcomes(passed=9, failed=1, warnings=1)
    first.stdout.fnmatch_lines(["*baseline base.json does not exist*"])
    base = json.loads((project.path / "base.json").read_text())
    # Pretend the recorded total was 20% smaller: today's figure is then a regression.
    base["models"]["good"]["total_bytes"] = int(base["models"]["good"]["total_bytes"] / 1.2)
    (project.path / "base.json").write_text(json.dumps(base))
    second = project.runpytest("--archcheck", "--archcheck-baseline=base.json")
    second.assert_outcomes(passed=8, failed=2)
    second.stdout.fnmatch_lines(["*total_bytes regressed from * (+20.0%, tolerance 5%)*"])


def test_baseline_tolerance_ini(project: pytest.Pytester) -> None:
    project.runpytest("--archcheck", "--archcheck-baseline=base.json")
    base = json.loads((project.path / "base.json").read_text())
    base["models"]["good"]["total_bytes"] = int(base["models"]["good"]["total_bytes"] / 1.2)
    (project.path / "base.json").write_text(json.dumps(base))
    project.makeini("[pytest]\narchcheck_tolerance = 0.25\narchcheck_baseline = base.json\n")
    result = project.runpytest("--archcheck")
    result.assert_outcomes(passed=9, failed=1)  # a baseline is something to check


def test_xdist_matches_serial(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    serial = project.runpytest("--archcheck", "--archcheck-json=serial.json")
    par = project.runpytest_subprocess("--archcheck", "-n", "2", "--archcheck-json=par.json")
    serial.assert_outcomes(passed=7, failed=1, skipped=2)
    par.assert_outcomes(passed=7, failed=1, skipped=2)
    a = json.loads((project.path / "serial.json").read_text())["models"]
    b = json.loads((project.path / "par.json").read_text())["models"]
    assert a == b


def test_bad_spec_is_a_failing_item_not_a_crash(pytester: pytest.Pytester) -> None:
    pytester.makefile(".archcheck.toml", broken="[model\nlayers = 2\n")
    result = pytester.runpytest("--archcheck")
    result.stdout.fnmatch_lines(["*broken.archcheck.toml:1: ARC306 TOML syntax error*"])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_inline_pyproject_models(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.archcheck]
        ignore = ["ARC211"]

        [[tool.archcheck.model]]
        name = "inline"
        family = "lstm"
        d_model = 32
        vocab = 100

        [tool.archcheck.model.train]
        bptt = 10

        [tool.archcheck.model.budget]
        span = 50
    """,
    )
    result = pytester.runpytest("--archcheck")
    # pytester dedents and strips the text: `bptt = 10` is line 11.
    result.stdout.fnmatch_lines(["*pyproject.toml:11: ARC207 bptt 10*"])
    result.assert_outcomes(passed=2, failed=1, skipped=2)


def test_plugin_unused_imports_no_torch_or_pydantic(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.makeconftest("""
        import sys

        def pytest_sessionfinish(session):
            heavy = sorted(m for m in ("torch", "pydantic", "rich") if m in sys.modules)
            session.config._heavy = heavy

        def pytest_terminal_summary(terminalreporter, config):
            terminalreporter.write_line(f"HEAVY={config._heavy}")
    """)
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["HEAVY=[[][]]"])


@pytest.mark.parametrize(
    ("worker", "count", "expected"),
    [("gw0", 4, 0), ("gw5", 4, 1), ("gw3", 1, None), (None, 8, None), ("master", 2, None)],
)
def test_xdist_worker_gpu_mapping(worker: str | None, count: int, expected: int | None) -> None:
    from pytest_archcheck.measure import worker_gpu

    assert worker_gpu(worker, count) == expected


def test_decorated_factory_is_collected_by_parsing(pytester: pytest.Pytester) -> None:
    # The module would fail on import: collection must only parse it.
    pytester.makefile(".archcheck.toml", base=BAD_BPTT)
    pytester.makepyfile(
        models="""
        import pytest_archcheck
        raise RuntimeError("imported at collection")

        @pytest_archcheck.model(spec="base.archcheck.toml", span=10)
        def tiny_rnn():
            pass
    """
    )
    # (not named on the command line: pytest itself would import a file given explicitly)
    result = pytester.runpytest("--archcheck", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["models.py::tiny_rnn::span"])
    assert "imported at collection" not in result.stdout.str()
    # span overridden to 10 by the decorator: bptt 20 now covers it, the span item passes.
    run = pytester.runpytest("--archcheck", "-q", "-k", "tiny_rnn")
    run.assert_outcomes(passed=4, skipped=1, deselected=5)


def test_p_archcheck_by_entry_point_name(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = project.runpytest_subprocess("-p", "archcheck", "--archcheck")
    result.assert_outcomes(passed=7, failed=1, skipped=2)


def test_probe_ini_keys(pytester: pytest.Pytester) -> None:
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # no import: the probe runs in a subprocess
        pytest.skip("needs torch")
    pytester.makefile(
        ".archcheck.toml",
        tiny="""
        [model]
        name = "tiny"
        layers = 1
        d_model = 32
        heads = 2
        vocab = 100
        max_positions = 64

        [train]
        seq_len = 64

        [budget]
        max_n = 64
        memory = "64 KiB"
    """,
    )
    pytester.makeini(
        "[pytest]\narchcheck = true\narchcheck_probe = true\narchcheck_device = fake\n"
        "archcheck_json = r.json\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "archcheck: collecting specs (probe on fake)",
            "*ARC101 measured (fake, target *) training peak*",
        ]
    )
    import json

    doc = json.loads((pytester.path / "r.json").read_text())
    assert (
        doc["models"]["tiny"]["device"] == "fake"
        and doc["models"]["tiny"]["peak_bytes"] > 64 * 1024
    )
