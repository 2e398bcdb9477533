"""The serviceminder dlt sources and everything that speaks the serviceminder API."""
