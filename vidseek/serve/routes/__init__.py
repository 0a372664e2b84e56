"""One router per resource; `vidseek.serve.app` assembles them under /api."""
