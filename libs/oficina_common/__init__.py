"""Infrastructure shared by the three Oficina services. Never domain models."""
