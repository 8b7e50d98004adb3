"""The engine location setting: this computer or a Ray address, checked before it is kept, stored in QSettings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from triergon_studio.cluster.remote import EngineLocation
from triergon_studio.ui.engine_location import EngineLocationDialog, load_location, save_location


def test_dialog_keeps_a_valid_address_and_refuses_a_bad_one(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert load_location(settings).is_local  # the default: this computer
    dlg = EngineLocationDialog(load_location(settings))
    qtbot.addWidget(dlg)
    assert not dlg.address.isEnabled()
    dlg.kind.setCurrentIndex(1)
    assert dlg.address.isEnabled()
    dlg.address.setText("gpu-server")  # no port
    dlg.accept()
    assert dlg.result() == 0 and "not 'this computer' or a Ray address" in dlg.error.text()
    dlg.address.setText("gpu-server:6379")
    dlg.accept()
    assert dlg.result() == 1 and dlg.result_location == EngineLocation("gpu-server:6379")
    save_location(settings, dlg.result_location)
    assert (
        load_location(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)).address
        == "gpu-server:6379"
    )
    settings.setValue("engine/location", "nonsense")  # a hand-edited file falls back to this computer
    assert load_location(settings).is_local


def test_window_reads_the_stored_location_for_its_jobs(qtbot, project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from triergon_studio.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat)
    save_location(settings, EngineLocation("gpu-server:6379"))
    win = MainWindow(project=project, settings=settings, open_audio=False)
    try:
        assert win.generation.engine_location == "gpu-server:6379"
        actions = {a.objectName() for a in win.findChildren(type(win.menuBar().actions()[0]))}
        assert "engineLocationAction" in actions
    finally:
        win.project.undo.set_clean()
        win.close()
        win.deleteLater()
