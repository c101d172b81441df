"""The example web app devd runs: it reads its page once at start, like a Python app loads its code."""
