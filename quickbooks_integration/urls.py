"""URLs of the QuickBooks integration: OAuth connect/callback/disconnect (DESIGN §3)."""

urlpatterns: list = []
