"""Code with no Dagster in it: contracts, loaders, scorecards, SQL builders."""
