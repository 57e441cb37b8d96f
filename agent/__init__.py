"""The medvoice service: FastAPI app, call sessions, pipeline assembly, configuration and CLI."""
