"""Video probing, frame access, sampling, audio-track extraction and muxing. No Qt, no torch."""
