"""The thin ends that feed the core and decide where output goes: `render` (application model),
`commands` (transform, check, helm-postrender), `krm` (KRM function), `pipeline`, `emit`, `modes_table`.
`meshform.cli` parses options and calls these."""
