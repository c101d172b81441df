"""The Docker engine adapter."""
