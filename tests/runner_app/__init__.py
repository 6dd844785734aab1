"""A tiny CDK app exercising every feature of the local runner (tests only)."""
