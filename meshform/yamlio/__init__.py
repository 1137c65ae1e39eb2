"""Reading and writing YAML: the only package that knows which YAML engine runs.

`reader` (located documents, bounds), `split` (a stream into its documents), `fast` (the
libyaml/yaml-rs reader for manifests), `streams` (multi-document inputs that keep each document's
text), `writer` (our kubectl-style emitter) and `roundtrip` (ruamel, when comments must survive).
Knows nothing about meshes.
"""
