"""Signing in: sessions, API tokens and org API keys, org switching, invitation acceptance."""
