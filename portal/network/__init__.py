"""The sales network: organizations, per-brand channel links, users, memberships, invitations."""
