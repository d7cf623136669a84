"""Test support: a throwaway PostgreSQL server and raw-table builders shared by the tests."""
