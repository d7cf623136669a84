"""Customer sentiment from support tickets, survey verbatims, account-manager notes and social mentions."""
