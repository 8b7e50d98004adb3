"""The paper's constants, in one place (Tri-Ergon §3; SPEC §2)."""

from __future__ import annotations

#: Output sample rate of every model family (44.1 kHz stereo).
SAMPLE_RATE = 44100
#: Loudness curves: momentary LUFS, this many values per second, per channel.
CURVE_RATE_HZ = 6.0
#: The curves' floor (and the BS.1770 absolute gate): quieter values are clipped to it.
LUFS_FLOOR = -70.0
#: Curve values at or under this count as silence for adherence and guidance losses.
LUFS_ACTIVE = -60.0
