"""Prompt panel extras: the negative prompt box and the "Follow curves" choice, both undoable project edits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest


def _model_info(negative: bool):  # type: ignore[no-untyped-def]
    from triergon_studio.engine.families.registry import describe

    info = describe("compact")
    return replace(info, capabilities=replace(info.capabilities, negative_text=negative))


def test_negative_prompt_is_an_undoable_edit(window, qtbot) -> None:
    p = window.prompt_panel
    p.show_model(_model_info(False))
    assert not p.negative_text.isEnabled()  # this model takes no negative prompt
    p.show_model(_model_info(True))
    assert p.negative_text.isEnabled()
    qtbot.keyClicks(p.negative_text, "music, speech ")
    p.flush()
    assert window.project.prompts.negative_text == "music, speech"
    spec = window.generation.gather_spec(None, seed=1)
    assert spec.negative_text == "music, speech"
    window.project.undo.undo()
    assert window.project.prompts.negative_text == ""
    assert p.negative_text.text() == ""
    window.project.undo.redo()
    assert p.negative_text.text() == "music, speech"


def test_follow_curves_choice_reaches_settings_and_spec(window) -> None:
    p = window.prompt_panel
    assert p.follow_curves.currentText() == "model default"
    assert window.project.settings.follow_curves is None
    p.follow_curves.setCurrentText("shape+guide")
    assert window.project.settings.follow_curves == "shape+guide"
    assert window.generation.gather_spec(None, seed=1).follow_curves == "shape+guide"
    p.follow_curves.setCurrentText("off")
    assert window.project.settings.follow_curves == "off"
    window.project.undo.undo()
    assert window.project.settings.follow_curves == "shape+guide"
    assert p.follow_curves.currentText() == "shape+guide"
    p.follow_curves.setCurrentText("model default")
    assert window.project.settings.follow_curves is None


def test_predict_curves_from_motion_seeds_the_editor(window, qtbot) -> None:
    from triergon_studio.ui.menus import action
    from triergon_studio.ui.shortcuts import BY_ID

    assert BY_ID["generate.predict_motion"].default == "Ctrl+Alt+P"
    act = None
    for m in window.menuBar().actions():
        if m.menu() is not None and m.text().replace("&", "") == "Generate":
            act = action(m.menu(), "predictMotionAction")
    assert act is not None and act.shortcut().toString() == "Ctrl+Alt+P"
    assert window.project.curves is None
    act.trigger()
    qtbot.waitUntil(lambda: not window.jobs.is_busy() and window.project.curves is not None, timeout=60000)
    curve = window.project.curves
    assert abs(curve.duration_s - window.project.duration_s) < 0.2
    assert curve.left.size > 0
    assert window.project.undo.undo_text == "Predict curves from motion"
    window.project.undo.undo()
    assert window.project.curves is None


def test_vary_this_take_sets_init_audio_and_generates_its_span(window, qtbot, monkeypatch) -> None:
    import triergon_studio.ui.generation_controller as gc

    from .conftest import add_take

    take_id = add_take(window.project, "steps", seconds=1.0)
    take = window.project.take(take_id)
    specs: list = []
    monkeypatch.setattr(gc, "generation_job", lambda host, spec, paths, location="": specs.append(spec))
    submitted: list = []
    monkeypatch.setattr(window.generation.jobs, "submit", lambda job: submitted.append(job))
    window.takes_panel.select(take_id)
    assert not window.prompt_panel.init_row.isVisibleTo(window.prompt_panel)
    window.takes_panel.vary_action.trigger()  # the takes list's right-click command
    assert len(submitted) == 1 and len(specs) == 1
    init = window.project.prompts.init_audio
    assert init is not None and Path(init.path) == window.project.take_path(take)
    spec = specs[0]
    assert spec.init_audio is not None and Path(spec.init_audio.path) == window.project.take_path(take)
    start = float(take.metadata.get("start_s", 0.0))
    assert (spec.span.start_s, spec.span.end_s) == pytest.approx((start, start + take.duration_s))
    assert window.generation.gather_spec(None, seed=1).init_audio == spec.init_audio
    assert window.prompt_panel.init_row.isVisibleTo(window.prompt_panel)
    assert take.path.split("/")[-1] in window.prompt_panel.init_label.text()
    window.prompt_panel.init_clear.click()  # back to generating from noise
    assert window.project.prompts.init_audio is None
    assert not window.prompt_panel.init_row.isVisibleTo(window.prompt_panel)
    window.project.undo.undo()
    assert window.project.prompts.init_audio == init


def test_vary_without_a_selected_take_is_a_message(window) -> None:
    window.takes_panel.tree.setCurrentItem(None)
    window.generation.vary_take()
    assert "Select a take first" in window.banner.text
    assert window.project.prompts.init_audio is None


def _menu_action(window, title: str, name: str):  # type: ignore[no-untyped-def]
    from triergon_studio.ui.menus import action

    for m in window.menuBar().actions():
        if m.menu() is not None and m.text().replace("&", "") == title:
            return action(m.menu(), name)
    raise KeyError(title)


def test_models_menu_adds_a_remembered_model_folder(window, qsettings, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    from triergon_studio.ui.main_window import MainWindow

    compact = Path(__file__).resolve().parents[2] / "model_weights" / "compact"
    if not (compact / "config.json").is_file():
        pytest.skip("the bundled compact model is not in this checkout")
    mine = tmp_path / "my models" / "compact-copy"
    mine.parent.mkdir()
    mine.symlink_to(compact, target_is_directory=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    chosen = [str(empty)]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: chosen[0])
    act = _menu_action(window, "Models", "addModelFolderAction")
    p = window.prompt_panel
    before = p.model.currentText()
    act.trigger()  # not a model folder: one line naming it, nothing remembered
    assert "not a model folder" in window.banner.text and str(empty) in window.banner.text
    assert "\n" not in window.banner.text.strip()
    assert p.model.currentText() == before and not qsettings.value("models/folders")
    chosen[0] = str(mine)
    act.trigger()
    assert p.model.currentText() == str(mine)
    assert window.model_folders() == [str(mine)]
    assert window.project.settings.model == str(mine)
    # A new window (the next start of the app) offers the remembered folder again.
    win2 = MainWindow(settings=qsettings, open_audio=False)
    try:
        items = [win2.prompt_panel.model.itemText(k) for k in range(win2.prompt_panel.model.count())]
        assert str(mine) in items and "compact" in items
    finally:
        win2.project.undo.set_clean()
        win2.close()
        win2.deleteLater()


def test_take_tooltip_shows_its_settings(window) -> None:
    from triergon_studio.core.model import GenerationSettings, Prompts, ReferenceClip
    from triergon_studio.ui.takes_panel import settings_words

    from .conftest import add_take

    take = window.project.take(add_take(window.project, "steps", seconds=0.5))
    made = replace(
        take,
        settings=GenerationSettings(
            model="compact",
            steps=25,
            cfg=4.0,
            sampler="dpmpp-3m-sde",
            follow_curves="shape+guide",
            init_noise=0.6,
        ),
        prompts=Prompts(text="steps", init_audio=ReferenceClip("/x/takes/old.wav")),
    )
    words = settings_words(made)
    assert "follow curves: shape+guide" in words and "25 steps" in words and "CFG 4" in words
    assert "varied from old.wav at noise 0.6" in words
    assert settings_words(take) == take.name  # a take without a record (imported) says only its name
    window.takes_panel.show_takes([made])
    assert "shape+guide" in window.takes_panel.tree.topLevelItem(0).toolTip(0)
