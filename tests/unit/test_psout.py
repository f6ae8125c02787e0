"""`top`'s ps parsing as dockerd's (#15, found by `docker-compose top` on the compose shop): a
command with newlines or runs of blanks reads with single spaces and no trailing blank; `ps -m`
thread rows follow their process; Docker's errors."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.services.containers import psout

PS_EF = (
    "UID          PID    PPID  C STIME TTY          TIME CMD\n"
    "root        4242    4200  0 15:01 ?        00:00:00 sh -c echo  a   exec httpd -f \n"
    "root        4243    4242  0 15:01 ?        00:00:00 sleep 2\n"
    "root           1       0  0 14:00 ?        00:00:01 /sbin/init\n"
)


def test_command_whitespace_collapsed_and_foreign_pids_left_out() -> None:
    top = psout.parse(PS_EF, {4242, 4243})
    assert top["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert top["Processes"] == [
        ["root", "4242", "4200", "0", "15:01", "?", "00:00:00", "sh -c echo a exec httpd -f"],
        ["root", "4243", "4242", "0", "15:01", "?", "00:00:00", "sleep 2"],
    ]


def test_thread_rows_follow_their_process() -> None:
    out = "  PID TTY      TIME CMD\n 4242 ?    00:00:00 app\n    - -    00:00:00 -\n    1 ?  00:00:01 init\n    - -  00:00:00 -\n"
    assert psout.parse(out, {4242})["Processes"] == [
        ["4242", "?", "00:00:00", "app"],
        ["-", "-", "00:00:00", "-"],
    ]


def test_errors() -> None:
    with pytest.raises(errors.DockyardError, match="Couldn't find PID field in ps output"):
        psout.parse("UID CMD\nroot sh\n", set())
    with pytest.raises(errors.DockyardError, match="Unexpected pid 'x'"):
        psout.parse("PID CMD\nx sh\n", set())
