"""Built-in recommender model families (each one is also a default plugin)."""
