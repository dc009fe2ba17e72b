"""The portfolio: transactions, holdings, performance, allocation, CSV import and export."""
