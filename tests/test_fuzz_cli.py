"""CI runs a bounded number of fuzz cases (tests/fuzz_cli.py; run it by hand for more):
every kind of damage, every sample model in every form, and none may fail."""

import fuzz_cli

CASES = 300


def test_fuzz_cases_keep_the_error_contract():
    tried, failures = fuzz_cli.fuzz(CASES, seed=20240601, time_limit_s=5.0)
    assert tried >= CASES * 0.9
    report = "\n".join(f"{f.case.describe()}\n    -> {f.reason}" for f in failures)
    assert not failures, f"{len(failures)} of {tried} fuzz cases failed:\n{report}"


def test_fuzz_script_reports_counts(capsys):
    assert fuzz_cli.main(["--cases", "6", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("tried 6 cases, 0 failed (seed 3, ")
