"""Settings as the kubelet sees them, checked against the code that reads them.

The settings code: `reader` (pydantic-settings classes read from source) into `classes` (fields
and the variables they read). What containers get: `kubelet_env` (each container's environment),
`sealed` (secret keys), `containers` (an environment's containers and secrets at a gitops commit).
Which code: `targets` (running, candidate, reset commits). The checks' findings (`finding`, `memo`):
`required`, `boot_findings` (over `boot_runs`, `boot` + `boot_child`, `stand_ins`), `secret_keys`,
`cross_env` (other environments, feature flags), `frontend`; `parity.evaluate` for the replay walk.
"""
