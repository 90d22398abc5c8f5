"""The browser demo's Python side: its dev server (make web-dev) and benchmark (make bench-web)."""
