"""Projects and their video: probe the file here, hand core the facts (core never reads video files)."""

from __future__ import annotations

from pathlib import Path

from triergon_studio.core.project import Project
from triergon_studio.video.probe import probe


def new_project(video_path: str | Path, project_path: str | Path) -> Project:
    """A fresh project for ``video_path`` that will be saved at ``project_path`` (not written yet)."""
    return Project.new_from_video(video_path, project_path, probe(video_path))


def relink(project: Project, new_path: str | Path, accept_changed: bool = False) -> None:
    """Point ``project`` at a moved video (a new cut needs ``accept_changed``); one undo step."""
    project.relink_video(new_path, probe(new_path), accept_changed)
