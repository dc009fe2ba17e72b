"""Price alerts: above / below, stop-loss and take-profit."""
