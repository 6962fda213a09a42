"""The AI copilot: its tools (the user's own API calls), and what the copilot route builds on."""
