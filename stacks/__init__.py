"""The SmartCourse CDK app: shared infrastructure plus one stack per service, per stage."""
