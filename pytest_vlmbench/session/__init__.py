"""A benchmark session without pytest: planning the cases, running them, keeping the records."""
