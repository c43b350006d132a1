"""Årlig uppföljning (DOMAIN.md §5)."""
