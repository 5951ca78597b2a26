"""Repository-local wiring: the plugin's own tests use pytester."""
