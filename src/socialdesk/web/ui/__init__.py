"""The web desk: server-rendered pages (Jinja2 + htmx), live updates by SSE."""
