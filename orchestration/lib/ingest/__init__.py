"""Landing -> raw: discover landing files, map them onto the contracts (source mappings), cast,
quarantine what does not fit, append to the raw tables.
"""
