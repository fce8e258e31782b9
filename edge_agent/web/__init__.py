"""The store's pages (kiosk, locker, staff): plain HTML, CSS and JavaScript, no external assets."""
