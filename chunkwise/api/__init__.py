"""Drop-in classes of the original designs, thin over the graphs."""
