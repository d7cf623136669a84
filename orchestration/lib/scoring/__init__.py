"""Features -> scores: the scorecard (YAML), its compilation to SQL, scoring a range of dates,
and the readable rendering of a scorecard.
"""
