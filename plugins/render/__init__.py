"""Rendering as Argo CD and Flux render: Helm parameters, dependencies, chart caches, sources."""
