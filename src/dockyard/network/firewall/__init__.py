"""nftables: dockyard's own `ip` table per daemon (ruleset.py renders, nft.py applies)."""
