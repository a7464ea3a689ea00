"""The application shell: what builds and configures a running system for the entry points
(the CLI, the notebook, the playground, the workshop). :mod:`.system` is the composition root.
"""
