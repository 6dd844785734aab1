"""Users and access: registration, login, tokens, roles, administration."""
