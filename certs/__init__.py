"""CA and serving certificates for the admission webhook: generation, rotation and caBundle patching."""

from certs.rotation import dev_certificates, ensure_certificates, needs_renewal

__all__ = ["dev_certificates", "ensure_certificates", "needs_renewal"]
