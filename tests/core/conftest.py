from __future__ import annotations


# The synthetic-video helpers live with the video tests.
