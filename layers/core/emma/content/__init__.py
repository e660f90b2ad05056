"""The content library (content/*.yaml): newsletter blocks and tutorials, chosen per reader (emma.content.select)."""
