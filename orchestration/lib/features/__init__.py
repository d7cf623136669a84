"""The feature mart's catalog (`catalog.py`): every feature with its type and description
(docs/features.md).
"""
