"""Corpus builders, manifests, analysis labels, datasets and the token cache."""
