"""devd's pure core: Dockerfile analysis, ignore matching, classification, planning. No I/O."""
