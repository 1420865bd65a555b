"""Prompt authoring: admin-edited Jinja templates, the sandbox they render in, and the request an agent sends."""
