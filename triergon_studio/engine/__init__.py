"""Tri-Ergon model, samplers, pipeline and checkpoint loaders (torch). No Qt."""
