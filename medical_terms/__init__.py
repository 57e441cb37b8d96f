"""Medical lexicons (data with sources), term correction and number normalisation."""
