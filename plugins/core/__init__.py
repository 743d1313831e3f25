"""The core every check shares: the host handle, git, Helm, manifests, redaction, bounded HTTP."""
