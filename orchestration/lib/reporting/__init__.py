"""Surfaces over the published scores: the static HTML health report, its SVG charts, grade-drop
alerts.
"""
