"""The command-line tools' progress bar."""

from kind_tf import progress


def test_a_log_file_gets_a_line_every_10_seconds_not_one_per_item(capsys):
    bar = progress.progress_bar(3, "pair", stateful_metrics=("psnr",))
    assert (bar.target, bar.unit_name, bar.interval) == (3, "pair", 10)  # stdout is no terminal
    bar.update(1, [("psnr", 20.0)])
    assert "1/3" in capsys.readouterr().out
    bar.update(2, [("psnr", 30.0)])
    assert capsys.readouterr().out == ""  # within 10 s of the last line: nothing
    bar.update(3, [("psnr", 30.0)])
    # The last item ends the bar; a stateful metric is shown as given, not averaged (25).
    line = capsys.readouterr().out
    assert "3/3" in line and "psnr: 30.0000" in line, line
