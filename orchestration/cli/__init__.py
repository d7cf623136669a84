"""`healthscore`: the command line (one module per command; the parser is in main.py)."""
