"""The soak: the whole pattern under random edits, faults and kills (``make soak``)."""
