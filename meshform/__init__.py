"""meshform: put Kubernetes workloads under a chosen service-mesh governance mode, offline."""

from meshform.version import __version__

__all__ = ["__version__"]
