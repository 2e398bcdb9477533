"""Extract and load: dlt sources for serviceminder, and the local sandbox that stands in for it."""
