"""One small typed client per external system, all over the app's shared httpx client."""
