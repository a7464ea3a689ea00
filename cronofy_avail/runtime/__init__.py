"""The runtime: stores (SQLite, memory), the sync engine, the per-user coordinator, the four
steps (:mod:`.steps`) and the polite aiohttp site helper (:mod:`.serving`).

Built on :mod:`cronofy_avail.client` and :mod:`cronofy_avail.core`; never imports an edge (the
webhook server, the emulator, the CLI or the notebook widgets).
"""
