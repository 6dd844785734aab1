"""The Docker-free local cloud: PostgreSQL, Kafka, AWS emulator and the Lambda/API Gateway runner."""
