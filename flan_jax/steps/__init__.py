"""The one step builder: input shapes, train state, shardings, jitted steps."""
