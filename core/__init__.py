"""FlowDrafter's core: the storyboard document, geometry and time, project folders, settings, errors.

Imports nothing from the layers above it (planners, generators, ui).
"""

__version__ = "0.1.0"
