"""`duanka simulate`: a synthetic population of subscribers with injected fraud typologies."""
