"""The ``render`` section of the environments file: bounds of every chart render."""

from __future__ import annotations

from pydantic.dataclasses import dataclass

from releasegate.estate.values import MODEL, Number, Whole


@dataclass(frozen=True, config=MODEL)
class Render:
    """Bounds of every chart render (each runs in a child process, away from the suite)."""

    timeout_s: Number(3600) = 60.0
    """wall-clock seconds one render may take (its CPU time is bounded too); past it, an error"""
    memory_mb: Whole(1280, 65536) = 2048
    """address space of the render process in MiB (Helm's engine reserves about 1.1 GiB at start)"""
    output_mb: Whole(1, 4096) = 64
    """rendered manifests larger than this are an error, not parsed"""
