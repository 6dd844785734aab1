"""Learning assets of modules and their article content: schemas, queries and use cases."""
