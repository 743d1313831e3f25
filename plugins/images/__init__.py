"""Images: Docker references, the registry client, GitHub Actions workflows."""
