"""bot.cluster."""
