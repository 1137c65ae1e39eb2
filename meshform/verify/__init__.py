"""`meshform verify`: prove against a live cluster that each workload's governance mode will work.

The only part of meshform that talks to a cluster, and nothing offline imports it. The stages read like
the data flow: `targets` (what to verify, from an app model or manifests) → `kubeconfig` + `execauth` +
`client` (cluster access, standard library only) → `cluster` (cached, read-only lookups) → `checks/`
(per-mode control plane, namespace conflicts, version skew) and `dryrun` (the proof) → `report`.
"""
