"""Server-rendered web pages (Jinja2), Thai by default: the overview, the community, auditor and partner
pages. They log in with an API token, kept in an HTTP-only cookie."""
