"""bot.state."""
