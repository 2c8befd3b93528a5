"""Clicks: what a user's interaction is, how it arrives, and how it follows an image."""
