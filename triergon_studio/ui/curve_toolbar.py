"""Tool strip above the curve editor: tools, snapping, link/overlay and the selection edits."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QSizePolicy, QToolBar, QWidget

from triergon_studio.core.curve_keys import SHAPE_LABELS
from triergon_studio.core.curve_ops import SnapMode
from triergon_studio.core.curve_shapes import Shape
from triergon_studio.ui.curve_editor import CurveEditor, Tool

TOOL_KEYS = {
    Tool.PENCIL: "P",
    Tool.POINTS: "A",
    Tool.LINE: "N",
    Tool.SELECT: "R",
    Tool.TRIANGLE: "T",
    Tool.SQUARE: "Q",
}


class CurveToolbar(QToolBar):
    def __init__(self, editor: CurveEditor, parent: QWidget | None = None) -> None:
        super().__init__("Curve tools", parent)
        self.setObjectName("curveToolbar")
        self.editor = editor
        group = QActionGroup(self)
        self.tool_actions: dict[Tool, QAction] = {}
        for tool in Tool:
            act = QAction(tool.value.capitalize(), self)
            act.setCheckable(True)
            act.setShortcut(QKeySequence(TOOL_KEYS[tool]))
            act.setToolTip(f"{tool.value.capitalize()} tool ({TOOL_KEYS[tool]})")
            act.triggered.connect(lambda _=False, t=tool: editor.set_tool(t))
            group.addAction(act)
            self.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions[editor.tool].setChecked(True)
        editor.tool_changed.connect(lambda name: self.tool_actions[Tool(name)].setChecked(True))
        self.addSeparator()
        self.addWidget(QLabel(" Snap "))
        self.snap = QComboBox()
        self.snap.addItem("Off", SnapMode.OFF)
        self.snap.addItem("Frames", SnapMode.FRAMES)
        self.snap.addItem("Grid", SnapMode.GRID)
        self.snap.currentIndexChanged.connect(lambda i: editor.set_snap(self.snap.itemData(i)))
        self.addWidget(self.snap)
        self.grid = QDoubleSpinBox()
        self.grid.setRange(0.05, 10.0)
        self.grid.setValue(editor.grid_s)
        self.grid.setSuffix(" s")
        self.grid.setToolTip("Grid spacing in seconds (the value grid is 1 dB)")
        self.grid.valueChanged.connect(lambda v: editor.set_snap(editor.snap, grid_s=v))
        self.addWidget(self.grid)
        self.addSeparator()
        self.link = QAction("Link L/R", self)
        self.link.setCheckable(True)
        self.link.toggled.connect(editor.set_linked)
        self.addAction(self.link)
        self.overlay = QAction("Overlay", self)
        self.overlay.setCheckable(True)
        self.overlay.setToolTip("Draw L and R in one lane")
        self.overlay.toggled.connect(editor.set_overlay)
        self.addAction(self.overlay)
        # The selection edits go on a second row (``edits_bar``) so both rows fit a laptop screen.
        self.edits_bar = QToolBar("Curve edits", self)
        self.edits_bar.setObjectName("curveEditsToolbar")
        self.copy_lr = self._action("Copy L→R", editor.copy_left_to_right)
        self.smooth = self._action("Smooth", editor.smooth_selection, "S")
        self.flatten = self._action("Flatten", editor.flatten_selection, "F")
        self.raise_db = self._action("+dB", lambda: editor.offset_selection(self.step.value()), "Alt+Up")
        self.lower_db = self._action("−dB", lambda: editor.offset_selection(-self.step.value()), "Alt+Down")
        self.step = QDoubleSpinBox()
        self.step.setRange(0.1, 24.0)
        self.step.setValue(1.0)
        self.step.setSuffix(" dB")
        self.edits_bar.addWidget(self.step)
        self.delete = self._action("Delete", editor.delete_selected_points)
        self.delete.setToolTip("Delete the selected points (Delete)")
        self.edits_bar.addSeparator()
        self.edits_bar.addWidget(QLabel(" Shape "))
        self.shape = QComboBox()
        self.shape.setToolTip(
            "Shape of the segment leaving each selected point (Points tool; right-click a point)"
        )
        for shape in Shape:
            self.shape.addItem(SHAPE_LABELS[shape], shape.value)
        # activated, not currentIndexChanged: choosing the shown shape again still applies it.
        self.shape.activated.connect(lambda i: editor.set_point_shape(self.shape.itemData(i)))
        self.edits_bar.addWidget(self.shape)
        self.tension = QDoubleSpinBox()
        self.tension.setRange(-1.0, 1.0)
        self.tension.setSingleStep(0.1)
        self.tension.setValue(editor.bezier_tension)
        self.tension.setPrefix("tension ")
        self.tension.setToolTip("Bezier tension: 0 smooth, 1 flat at the points, below 0 overshoots")
        self.tension.valueChanged.connect(lambda v: setattr(editor, "bezier_tension", float(v)))
        self.edits_bar.addWidget(self.tension)
        self.edits_bar.addSeparator()
        self.acts_on = QLabel("")
        self.acts_on.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.acts_on.setObjectName("actsOnLabel")
        self.acts_on.setToolTip("What Smooth, Flatten, +/-dB, Delete and Shape act on")
        self.edits_bar.addWidget(self.acts_on)
        editor.selection_changed.connect(lambda: self.acts_on.setText(" " + editor.selection_text()))
        self.acts_on.setText(" " + editor.selection_text())

    def _action(self, text: str, slot: Callable[[], object], shortcut: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
            act.setToolTip(f"{text} ({shortcut})")
        act.triggered.connect(lambda _=False: slot())
        self.edits_bar.addAction(act)
        return act

    def all_actions(self) -> list[QAction]:
        """Both rows' actions (the window's Curves menu lists them)."""
        return [*self.actions(), *self.edits_bar.actions()]
