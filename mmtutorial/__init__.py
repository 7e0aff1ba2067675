"""mmtutorial: the helper package of *Multimodal Big Models, from first principles to working code*.

Every chapter of the book first builds a component in plain notebook cells, then imports the
version kept here and checks that the two agree.
"""

__version__ = "0.1.0"

from .device import autocast, get_device, seed_everything, to_device
from .train import Trainer

__all__ = ["__version__", "autocast", "get_device", "seed_everything", "to_device", "Trainer"]
