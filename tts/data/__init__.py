"""Reading tables for speech (units, abbreviations, symbols, letters, numbers, polyphones)."""
