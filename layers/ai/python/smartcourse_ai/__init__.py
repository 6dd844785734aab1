"""The AI service: its catalogue, domain, service layer and adapters (imported only by its own functions)."""
