"""PySide6 + pyqtgraph front end. Holds no model, audio or project logic."""
