"""SmartCourse shared layer: domain, services, adapters and settings used by every function."""
