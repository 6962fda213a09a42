"""The voice agent's work that is neither a route nor a third party's client: placing calls."""
