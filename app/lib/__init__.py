"""Small helpers every area may use; they know nothing of any area."""
