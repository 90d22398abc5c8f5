"""The page's Python side: dev server (make web-dev), Chromium driver, stroke preprocessing twin."""
