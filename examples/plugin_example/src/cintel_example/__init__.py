"""Example cintel plugin."""
