"""Accounts: registration, log-in (session and JWT), the account page, export and deletion."""
