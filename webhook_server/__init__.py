"""webhook_server: receives Cronofy push notifications (standalone or mounted in a host app)."""
