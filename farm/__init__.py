"""farm of ActAnywhere."""
