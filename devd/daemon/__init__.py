"""The daemon: watching, deciding and acting for each service."""
