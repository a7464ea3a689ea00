"""The ``cronofy-avail`` command: the parser (:mod:`.main`), the real-Cronofy commands,
settings from the environment and ``.env``, ngrok discovery, the error explainer and the demo.
"""

from cronofy_avail.cli.main import main

__all__ = ["main"]
