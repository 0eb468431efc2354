"""bot.gitlab."""
