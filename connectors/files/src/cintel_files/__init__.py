"""cintel plugin."""
