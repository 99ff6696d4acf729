"""Services of the QuickBooks integration: plain, typed, keyword-only functions, one module per concern."""
