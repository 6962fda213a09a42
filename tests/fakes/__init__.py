"""Local stand-ins for SaaS that cannot run here, speaking their documented wire formats."""
