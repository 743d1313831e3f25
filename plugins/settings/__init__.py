"""Settings as the kubelet sees them: the pydantic-settings reader, container environments, boot, parity."""
