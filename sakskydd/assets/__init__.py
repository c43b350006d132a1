"""The asset register (skyddsvärda objekt), holders, and status-change notices to holders."""
