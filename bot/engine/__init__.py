"""bot.engine."""
