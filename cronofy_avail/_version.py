"""The toolkit's version, in one place (read by the User-Agent and the CLI)."""

__version__ = "0.1.0"
