"""Procedural corpus, manifests, training loops and evaluation (torch). No Qt."""
