"""State that may be shared between processes and replicas (Redis), beside its in-process
default."""
