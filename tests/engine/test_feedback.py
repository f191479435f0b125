"""The command lines' console: a run under the progress bar ends its line and turns an interrupt or an engine
error into one line and an exit code, never a traceback."""

from __future__ import annotations

import io

import pytest
from s2cloudmask.inference.errors import Cancelled, ProductError
from s2cloudmask.inference.feedback import ConsoleFeedback, ConsoleRun


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_an_interrupt_closes_the_bar_and_says_what_is_kept(capsys):
    screen = Terminal()
    bar = ConsoleFeedback(stream=screen)
    with ConsoleRun(bar, "Interrupted; run the same command again.", 1) as run:
        bar.progress(40.0, "Masking")
        raise KeyboardInterrupt
    assert run.code == 1
    assert "Masking" in screen.getvalue() and screen.getvalue().endswith(" s)\n")  # the bar's line ended
    assert capsys.readouterr().err == "Interrupted; run the same command again.\n"


@pytest.mark.parametrize("error", [ProductError("The file a.jp2 is damaged; download it again."), Cancelled("Cancelled.")])
def test_an_engine_error_is_one_line_and_exit_code_2(capsys, error):
    with ConsoleRun(ConsoleFeedback(stream=io.StringIO()), "Interrupted.", 1) as run:
        raise error
    assert run.code == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_a_finished_run_has_no_code_and_a_bug_goes_up_as_it_is(capsys):
    with ConsoleRun(ConsoleFeedback(stream=io.StringIO()), "Interrupted.", 1) as run:
        pass
    assert run.code is None
    with pytest.raises(ZeroDivisionError), ConsoleRun(ConsoleFeedback(stream=io.StringIO()), "Interrupted.", 1):
        1 / 0
    assert capsys.readouterr().err == ""
