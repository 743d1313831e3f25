"""Kubernetes: the read-only API client (api), declared workloads and their live objects
(workloads), their health (health), drift from git (drift) and the Argo CD Application (argocd)."""
