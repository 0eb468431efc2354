"""Route handlers of the GitLab fake, one module per group of resources."""
