"""Plain-Python project model, curves, timecode and undo. No Qt, no torch."""
