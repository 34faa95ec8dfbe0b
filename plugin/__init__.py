"""plugin of ActAnywhere."""
