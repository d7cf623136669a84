"""Source contracts (`sources.py`): the one definition of every landing source, and the files
generated from them (`docgen.py`).
"""
