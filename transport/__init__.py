"""Transports: WebSocket audio endpoint, WebRTC signalling and transport, the browser page."""
