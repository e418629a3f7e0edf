"""dtmf-gateway shared package (Lambda layer)."""
