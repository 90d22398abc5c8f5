"""The benchmarks' shared table and report files, their command lines, and the wrk parser.

Fast: no TensorFlow, no model, no benchmark run. python -m pytest tests/bench -q
"""

from __future__ import annotations

import subprocess

import pytest
from rich.console import Console

from bench import table
from bench.serving import parse_wrk
from bench.table import Column, Table, collect, write_report
from pipeline.config import ROOT

PYTHON = ROOT / ".venv" / "bin" / "python"  # the project's venv, whichever Python runs pytest


def small_table() -> Table:
    t = Table("demo", [Column("server", "left"), Column("req/s"), Column("note", "left")])
    t.add("(a) floor", "27,841", "a | b")
    t.add("total", "9.0", "", strong=True)
    return t


def test_markdown_has_the_header_an_alignment_row_and_the_cells():
    assert small_table().markdown().splitlines() == [
        "| server | req/s | note |",
        "| --- | ---: | --- |",
        r"| (a) floor | 27,841 | a \| b |",
        "| **total** | **9.0** |  |",
    ]


def test_a_row_must_fill_every_column():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        small_table().add("x", "1")


def test_print_shows_the_title_headers_and_cells_as_plain_text(monkeypatch):
    console = Console(record=True, width=120)
    monkeypatch.setattr(table.ui, "out", console)
    t = Table("bench-demo", [Column("server", "left"), Column("p99 ms")])
    t.add("[bold]not markup[/]", "3.80")
    t.print()
    text = console.export_text()
    assert "bench-demo" in text and "p99 ms" in text and "3.80" in text
    assert "[bold]not markup[/]" in text


def test_collect_joins_every_bench_report_in_name_order(tmp_path):
    (tmp_path / "bench-web.md").write_text("# bench-web\n")
    (tmp_path / "bench-edge.md").write_text("# bench-edge\n")
    (tmp_path / "report.md").write_text("# not a benchmark\n")
    collect(tmp_path)
    assert (tmp_path / "bench.md").read_text() == "# bench-edge\n\n# bench-web\n"


def test_collect_without_reports_says_none_run_yet(tmp_path):
    collect(tmp_path)
    assert "None run yet." in (tmp_path / "bench.md").read_text()


def test_write_report_writes_its_file_then_collects(tmp_path):
    (tmp_path / "bench-edge.md").write_text("# bench-edge\n")
    path = write_report(tmp_path / "reports", "serving", "# bench-serving\n")
    assert path == tmp_path / "reports" / "bench-serving.md"
    assert path.read_text() == "# bench-serving\n"
    assert (tmp_path / "reports" / "bench.md").read_text() == "# bench-serving\n"
    write_report(tmp_path, "pipeline", "# bench-pipeline\n")
    assert (tmp_path / "bench.md").read_text() == "# bench-edge\n\n# bench-pipeline\n"
    assert [p.name for p in tmp_path.glob(".tmp-*")] == []


@pytest.mark.parametrize(
    "module", ["pipeline", "edge", "serving", "peers", "baselines", "web", "soak", "soak_load"]
)
def test_every_bench_module_answers_help(module):
    proc = subprocess.run(
        [PYTHON, "-m", f"bench.{module}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"python -m bench.{module}" in proc.stdout


WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8501/v1/models/digits:predict
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.87ms    1.12ms  28.40ms   85.12%
    Req/Sec     8.31k   612.45     9.80k    71.00%
  Latency Distribution
     50%    3.64ms
     75%    4.21ms
     90%    5.02ms
     99%    7.95ms
  165432 requests in 10.01s, 31.24MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  16527.17
Transfer/sec:      3.12MB
"""


def test_parse_wrk_reads_rate_percentiles_errors_and_requests():
    rps, p50, p99, errors, requests = parse_wrk(WRK_OUTPUT)
    assert rps == pytest.approx(16527.17)
    assert (p50, p99) == (pytest.approx(3.64), pytest.approx(7.95))
    assert errors == 2 + 1 + 4  # socket errors and non-2xx answers alike
    assert requests == 165432


def test_parse_wrk_converts_microseconds_and_seconds_and_counts_no_errors_when_none():
    clean = (
        WRK_OUTPUT.replace("3.64ms", "812.00us")
        .replace("7.95ms", "1.20s")
        .replace("  Socket errors: connect 0, read 2, write 0, timeout 1\n", "")
        .replace("  Non-2xx or 3xx responses: 4\n", "")
    )
    _, p50, p99, errors, _ = parse_wrk(clean)
    assert (p50, p99, errors) == (pytest.approx(0.812), pytest.approx(1200.0), 0)


H2LOAD_OUTPUT = """\
starting benchmark...
spawning thread #0: 64 total client(s). 0 total requests
Application protocol: h2c

finished in 10.00s, 3322.40 req/s, 1.31MB/s
requests: 33224 total, 33288 started, 33224 done, 33220 succeeded, 4 failed, 0 errored, 0 timeout
status codes: 33221 2xx, 0 3xx, 0 4xx, 3 5xx
traffic: 13.10MB (13736290) total, 1.02MB (1068000) headers (space savings 94.02%), 3.05MB data
                     min         max         mean         sd        +/- sd
time for request:     1.15ms     60.12ms     19.21ms      4.95ms    77.53%
"""


def test_parse_h2load_reads_the_rate_its_log_s_percentiles_and_every_kind_of_failure(tmp_path):
    from bench.serving import parse_h2load

    log = tmp_path / "h2load.log"
    # start time, HTTP status, elapsed microseconds: 100 requests of 1..100 ms
    log.write_text("".join(f"{i}\t200\t{i * 1000}\n" for i in range(100, 0, -1)))
    rps, p50, p99, errors, requests = parse_h2load(H2LOAD_OUTPUT, log)
    assert rps == pytest.approx(3322.40)
    assert (p50, p99) == (pytest.approx(51.0), pytest.approx(100.0))
    assert errors == 4 + 3  # failed requests, and answers that were not 2xx
    assert requests == 33224
    log.write_text("")
    with pytest.raises(RuntimeError, match="logged no request"):
        parse_h2load(H2LOAD_OUTPUT, log)
