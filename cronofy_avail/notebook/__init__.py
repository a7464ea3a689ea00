"""The Jupyter toolkit (optional ``notebook`` extra)."""
