"""WhatsApp Cloud API channel: payload models (``models``), and the webhook and send client."""
