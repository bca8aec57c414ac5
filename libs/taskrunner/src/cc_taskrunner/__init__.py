"""CommandCenter package."""
