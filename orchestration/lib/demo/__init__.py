"""Synthetic demo data (`generate.generate_demo_data`): see generate.py and docs/demo-data.md."""
