"""Audio I/O, loudness measurement, conform/normalise, playback and export. No Qt, no torch."""
