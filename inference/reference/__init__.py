"""Reference masks made by active learning (ALCD): samples, features, a random forest, low-confidence suggestions, training patches."""
