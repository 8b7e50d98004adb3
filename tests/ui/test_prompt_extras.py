"""Prompt panel extras: the negative prompt box and the "Follow curves" choice, both undoable project edits."""

from __future__ import annotations

from dataclasses import replace


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
