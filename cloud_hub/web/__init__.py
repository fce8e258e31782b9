"""The HQ dashboard's pages and assets (plain HTML, CSS and JavaScript, no external assets)."""
