"""run_async: the answer comes back on the UI thread, and is dropped once its context object is gone."""

from __future__ import annotations

import threading


def test_the_answer_arrives_on_the_ui_thread_and_is_dropped_after_its_context(qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QObject

    from triergon_studio.ui.background import run_async, wait_all

    got: list[tuple[object, bool]] = []
    ui = threading.current_thread()
    run_async(lambda: 7, lambda v: got.append((v, threading.current_thread() is ui)))
    qtbot.waitUntil(lambda: len(got) == 1)
    assert got == [(7, True)]

    gate = threading.Event()
    context = QObject()
    dropped: list[object] = []
    run_async(lambda: gate.wait(5) and 8, dropped.append, context=context)
    context.deleteLater()
    qtbot.wait(20)  # the context is deleted while the task still runs
    gate.set()
    wait_all()
    qtbot.wait(50)
    assert dropped == []
