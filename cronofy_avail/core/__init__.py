"""The pure core: wire models, signatures, errors, hosts, retry policy, mapping policy, planner.

No I/O and no aiohttp or ipywidgets here (the import contract in ``pyproject.toml`` enforces
it), so everything in this package is tested with plain values and no event loop.
"""
